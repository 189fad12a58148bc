"""The landing folder: `LANDING/YYYY-MM-DD/<name>.ndjson|.jsonl[.gz]`, a folder per delivery day."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

LANDING_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # "YYYY-MM-DD/name.ndjson": what rejects and lineage call the file
    size: int
    mtime_ns: int

    def read_lines(self) -> tuple[pa.LargeStringArray, bool]:
        """The file's lines as an Arrow array over the file's own bytes (no copy, no Python
        strings), and whether the file was valid UTF-8 (bad bytes become U+FFFD). Each line
        keeps its terminating newline; after a final newline comes an empty last line."""
        data = self.path.read_bytes()
        if self.path.name.endswith(".gz"):
            data = gzip.decompress(data)
        lines = _split_lines(data)
        try:
            lines.validate(full=True)  # UTF-8
            return lines, True
        except pa.ArrowInvalid:
            return _split_lines(data.decode("utf-8", errors="replace").encode()), False


def _split_lines(data: bytes) -> pa.LargeStringArray:
    newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    offsets = np.empty(len(newlines) + 2, np.int64)
    offsets[0], offsets[1:-1], offsets[-1] = 0, newlines + 1, len(data)
    return pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)
    )


def is_delivery_day(name: str) -> bool:
    try:
        return dt.date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def delivery_days(landing: Path) -> list[str]:
    """Delivery-day folder names under the landing folder, oldest first."""
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder not found: {landing}")
    return sorted(p.name for p in landing.iterdir() if p.is_dir() and is_delivery_day(p.name))


def day_files(landing: Path, day: str) -> list[LandingFile]:
    """The landing files of one delivery day, by name; other files in the folder are ignored."""
    files = []
    for path in sorted((landing / day).iterdir()):
        if path.is_file() and path.name.endswith(LANDING_SUFFIXES):
            stat = path.stat()
            files.append(LandingFile(path, f"{day}/{path.name}", stat.st_size, stat.st_mtime_ns))
    return files


def fingerprint(files: list[LandingFile]) -> str:
    """A hash of the day's file list with sizes and modification times: what 'new' means."""
    listing = [[f.relative, f.size, f.mtime_ns] for f in files]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
