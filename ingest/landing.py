"""The landing folder: `LANDING/YYYY-MM-DD/<name>.ndjson|.jsonl[.gz]`, a folder per delivery day.

Every entry with a landing name is listed, whatever it is: a file that cannot be read as
NDJSON (a truncated gzip, binary data, a directory or a broken link with a landing name, a file
that vanishes or changes while it is read) is reported by `read_lines` as `UnreadableFile`
with its reason, so the caller records it and goes on with the other files. An entry modified
less than `settle_seconds` ago is still being written: it is listed apart and not read yet.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import stat
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

LANDING_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
GZIP_MAGIC = b"\x1f\x8b"
# Byte-order marks of encodings other than UTF-8: such a file is not UTF-8 text at all.
FOREIGN_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class UnreadableFile(Exception):
    """A landing entry that cannot be read as NDJSON; the message is the recorded reason."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # "YYYY-MM-DD/name.ndjson": what rejects and lineage call the file
    size: int
    mtime_ns: int
    problem: str | None = None  # known from the listing alone: not a regular file, no access

    def read_lines(self) -> tuple[pa.LargeStringArray, bool]:
        """The file's lines as an Arrow array over the file's own bytes (no copy, no Python
        strings), and whether the file was valid UTF-8 (bad bytes become U+FFFD). Each line
        keeps its terminating newline; after a final newline comes an empty last line.
        Raises UnreadableFile with the reason when the file cannot be read as NDJSON."""
        if self.problem:
            raise UnreadableFile(self.problem)
        try:
            data = self.path.read_bytes()
            after = self.path.stat()
        except FileNotFoundError:
            raise UnreadableFile("vanished while being read") from None
        except OSError as exc:
            raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from None
        if (after.st_size, after.st_mtime_ns) != (self.size, self.mtime_ns):
            raise UnreadableFile("changed while being read (read again by the next run)")
        data = _decompressed(data) if self.path.name.endswith(".gz") else data
        _check_text(data)
        lines = _split_lines(data)
        try:
            lines.validate(full=True)  # UTF-8
            return lines, True
        except pa.ArrowInvalid:
            return _split_lines(data.decode("utf-8", errors="replace").encode()), False


def _decompressed(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError:
        raise UnreadableFile(
            "truncated gzip: the compressed data ends before its end-of-stream marker"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise UnreadableFile(f"corrupt gzip: {exc}") from None


def _check_text(data: bytes) -> None:
    """Refuses a file whose first bytes show it is not UTF-8 NDJSON at all (invalid bytes
    before any line); a bad line further on is rejected as a line."""
    if data.startswith(GZIP_MAGIC):
        raise UnreadableFile("gzip-compressed data in a file whose name does not end in .gz")
    for bom, encoding in FOREIGN_BOMS.items():
        if data.startswith(bom):
            raise UnreadableFile(f"{encoding} text (byte-order mark); landing files are UTF-8")
    first_line = data[: data.find(b"\n") if b"\n" in data[:4096] else 4096]
    if b"\x00" in first_line:
        raise UnreadableFile("binary data (NUL bytes in the first line), not NDJSON text")


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


def stray_entries(landing: Path) -> list[str]:
    """What sits in the landing folder beside the delivery-day folders and is never read (a
    mistyped day such as `2026-1-30` or `20261130`, a file): hidden names (`.x`) left out."""
    return sorted(
        p.name
        for p in landing.iterdir()
        if not p.name.startswith(".") and not (p.is_dir() and is_delivery_day(p.name))
    )


@dataclass(frozen=True)
class DayListing:
    """A delivery day's landing entries: those to read now, and those still being written."""

    files: list[LandingFile] = field(default_factory=list)
    still_landing: list[LandingFile] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """A hash of the entries to read, with sizes and modification times: what 'new'
        means. A file still being written is left out, so it makes the day new once it
        settles."""
        listing = [[f.relative, f.size, f.mtime_ns] for f in self.files]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _entry(path: Path, relative: str) -> LandingFile:
    try:
        st = path.stat()
    except OSError as exc:  # a broken link, or no access to it
        try:
            st = path.lstat()
        except OSError:  # gone since the folder was listed
            return LandingFile(path, relative, 0, 0, "vanished while being read")
        why = "a broken symbolic link" if stat.S_ISLNK(st.st_mode) else exc.strerror or exc
        return LandingFile(path, relative, 0, st.st_mtime_ns, f"cannot be read: {why}")
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    problem = f"not a regular file ({kind})" if kind else None
    return LandingFile(path, relative, st.st_size if not kind else 0, st.st_mtime_ns, problem)


def day_files(landing: Path, day: str, settle_seconds: float = 0) -> DayListing:
    """Every entry of one delivery day with a landing name, by name (other names are
    ignored); entries modified less than `settle_seconds` ago are still landing."""
    try:
        paths = sorted((landing / day).iterdir())
    except FileNotFoundError:  # the folder went away
        return DayListing()
    settled_before = time.time_ns() - int(settle_seconds * 1e9)
    entries = [
        _entry(path, f"{day}/{path.name}") for path in paths if path.name.endswith(LANDING_SUFFIXES)
    ]
    return DayListing(
        [e for e in entries if settle_seconds <= 0 or e.mtime_ns <= settled_before],
        [e for e in entries if settle_seconds > 0 and e.mtime_ns > settled_before],
    )
