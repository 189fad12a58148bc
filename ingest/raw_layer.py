"""The raw layer: validated events and rejected lines as Parquet, one partition per delivery day.

    RAW/events/YYYY-MM-DD/events.parquet                 accepted, de-duplicated within the day
    RAW/rejects/YYYY-MM-DD/rejects.parquet               one row per rejected line
    RAW/manifest/YYYY-MM-DD.json                          what was read, the files that could
                                                          not be read (and why), and the counts

A day is (re)written only when its landing files changed, so later runs extend the layer.
A file that cannot be read never stops the others: it is recorded in the manifest with its
reason, and a corrected copy (a new size or modification time) makes the day new again. A file
modified less than `settle_seconds` ago is still being written and is left for a later run.
Each file is written beside its final name and renamed into place; the manifest goes last, so
a run killed half-way re-ingests that day next time. Duplicates across days are resolved in
dbt staging (the copy with the earliest `received_at` wins).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.landing import DayListing, LandingFile, UnreadableFile, day_files
from ingest.validate import CHECKED_SQL

EVENT_COLUMNS = (
    "event_id, event_type, occurred_at, received_at, organization, bot, visitor_id, "
    "conversation_id, channel, page_url, properties, source_file, line_number"
)


@dataclass(frozen=True)
class DayResult:
    delivery_date: str
    files: int
    lines: int
    accepted: int
    rejected: int
    duplicates: int
    skipped: bool  # nothing new since the last ingest of this day
    rejected_files: int = 0  # landing files that could not be read
    still_landing: int = 0  # files modified too recently to be read yet


def events_glob(raw: Path) -> str:
    return str(raw / "events" / "*" / "*.parquet")


def rejects_glob(raw: Path) -> str:
    return str(raw / "rejects" / "*" / "*.parquet")


def day_file(raw: Path, table: str, day: str) -> Path:
    """A delivery day's Parquet file of `table` ("events" or "rejects")."""
    return raw / table / day / f"{table}.parquet"


def _manifest_dir(raw: Path) -> Path:
    return raw / "manifest"


def _manifest_path(raw: Path, day: str) -> Path:
    return _manifest_dir(raw) / f"{day}.json"


def read_manifest(raw: Path, day: str) -> dict | None:
    """The day's manifest, or None when the raw layer does not hold the day whole: no
    manifest, one that cannot be read, or the day's Parquet files gone. Such a day is read
    again from the landing folder when it is there."""
    try:
        manifest = json.loads(_manifest_path(raw, day).read_text())
    except (OSError, ValueError):
        return None
    whole = all(day_file(raw, table, day).exists() for table in ("events", "rejects"))
    return manifest if isinstance(manifest, dict) and whole else None


@dataclass(frozen=True)
class PendingDay:
    delivery_date: str
    fingerprint: str
    newest_mtime_ns: int  # of its landing files: a day still being written is recent


@dataclass(frozen=True)
class LandingScan:
    pending: list[PendingDay]  # days whose landing files differ from what the raw layer holds
    still_landing: list[str]  # files modified less than `settle_seconds` ago ("DAY/name")
    settles_at: float = 0.0  # when the last of them will have settled (epoch seconds; 0: none)


def _rewritten(listing: DayListing, manifest: dict | None) -> list[str]:
    """Files of the day's last ingest that are being written again: read now, the day would
    lose their events, so it keeps what was ingested until they have settled."""
    ingested = set((manifest or {}).get("files", ()))
    return [f.relative for f in listing.still_landing if f.relative in ingested]


def scan_landing(
    landing: Path, days: list[str], raw: Path, settle_seconds: float = 0
) -> LandingScan:
    """One listing of the landing folder: the pending delivery days (files still being written
    left out: a day with nothing else new is not pending yet) and the files still landing."""
    pending, writing, last_change_ns = [], [], 0
    for day in days:
        listing = day_files(landing, day, settle_seconds)
        writing += [f.relative for f in listing.still_landing]
        last_change_ns = max([last_change_ns, *(f.mtime_ns for f in listing.still_landing)])
        manifest = read_manifest(raw, day)
        if not listing.files and manifest is None:
            continue  # nothing to read yet
        if _rewritten(listing, manifest):
            continue  # an ingested file is being written again: not until it has settled
        if (manifest or {}).get("fingerprint") != listing.fingerprint:
            newest = max((f.mtime_ns for f in listing.files), default=0)
            pending.append(PendingDay(day, listing.fingerprint, newest))
    settles_at = last_change_ns / 1e9 + settle_seconds if writing else 0.0
    return LandingScan(pending, writing, settles_at)


def ingested_days(raw: Path) -> list[str]:
    """The delivery days the raw layer holds (each has its manifest), in order."""
    return sorted(p.stem for p in _manifest_dir(raw).glob("*.json"))


def read_since(raw: Path, watermark: dt.datetime) -> list[str]:
    """The delivery days (re)ingested after `watermark` (a naive UTC time, as the rows'
    ingested_at), emptied days included. A day ingested before the manifest recorded its rows'
    time is not listed: its rows, if any, say when they were ingested."""
    return [
        day
        for day in ingested_days(raw)
        if (at := (read_manifest(raw, day) or {}).get("rows_ingested_at"))
        and dt.datetime.fromisoformat(at) > watermark
    ]


def raw_layer_digest(raw: Path) -> str:
    """Identifies what the raw layer holds: changes whenever any delivery day is (re)ingested."""
    digest = hashlib.sha256()
    for day in ingested_days(raw):
        manifest = _manifest_path(raw, day)
        digest.update(manifest.name.encode() + manifest.read_bytes())
    return digest.hexdigest()[:16]


def _copy_atomically(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    os.replace(tmp, target)


def _write_json_atomically(target: Path, content: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=2))
    os.replace(tmp, target)


@dataclass(frozen=True)
class RejectedFile:
    file: str  # "YYYY-MM-DD/name"
    size: int  # bytes on disk
    reason: str
    estimated_lines: int  # lines it would have brought: what the day's quality gate counts


def _estimate_lines(
    rejected: list[tuple[LandingFile, str]], read: list[tuple[LandingFile, int]]
) -> list[RejectedFile]:
    """Each unreadable file with the lines it would have brought, from its size and the bytes
    per line of the day's readable files of the same compression (else of all of them); at
    least one line, so that every unreadable file counts against the day."""

    def bytes_per_line(files: list[tuple[LandingFile, int]]) -> float | None:
        size, lines = sum(f.size for f, _ in files), sum(n for _, n in files)
        return size / lines if size and lines else None

    result = []
    for f, reason in rejected:
        gz = f.path.name.endswith(".gz")
        rate = bytes_per_line(
            [(g, n) for g, n in read if g.path.name.endswith(".gz") == gz]
        ) or bytes_per_line(read)
        estimate = max(1, round(f.size / rate)) if rate else 1
        result.append(RejectedFile(f.relative, f.size, reason, estimate))
    return result


def ingest_day(
    landing: Path,
    day: str,
    raw: Path,
    *,
    force: bool = False,
    settle_seconds: float = 0,
    log: Callable[[str], None] = print,
) -> DayResult:
    """Validate one delivery day's landing files into the raw layer (idempotent)."""
    listing = day_files(landing, day, settle_seconds)
    for f in listing.still_landing:
        log(f"  {f.relative}: modified less than {settle_seconds:g} s ago, left for the next run")
    previous = read_manifest(raw, day)
    if previous is None and not listing.files:  # every file still being written: nothing yet
        return DayResult(day, 0, 0, 0, 0, 0, skipped=True, still_landing=len(listing.still_landing))
    if rewritten := _rewritten(listing, previous):
        log(
            f"  {day}: {len(rewritten)} file(s) it was read from are being written again "
            f"({', '.join(rewritten[:3])}): the day keeps what was ingested until they settle"
        )
    if previous and (rewritten or (previous["fingerprint"] == listing.fingerprint and not force)):
        counts = previous["counts"]
        return DayResult(
            day,
            len(listing.files),
            counts["lines"],
            counts["accepted"],
            counts["rejected"],
            counts["duplicates"],
            skipped=True,
            rejected_files=counts.get("rejected_files", 0),
            still_landing=len(listing.still_landing),
        )
    return _ingest_listing(listing, day, raw, log)


def _ingest_listing(
    listing: DayListing, day: str, raw: Path, log: Callable[[str], None]
) -> DayResult:
    sources, numbers, texts, utf8 = [], [], [], []
    read: list[tuple[LandingFile, int]] = []
    unreadable: list[tuple[LandingFile, str]] = []
    for f in listing.files:
        try:
            lines, is_utf8 = f.read_lines()
        except UnreadableFile as exc:
            unreadable.append((f, str(exc)))
            log(f"  {f.relative}: NOT READ: {exc}")
            continue
        read.append((f, len(lines)))
        sources.append(pa.repeat(pa.scalar(f.relative, pa.string()), len(lines)))
        numbers.append(pa.array(np.arange(1, len(lines) + 1, dtype=np.int64)))
        texts.append(lines)
        utf8.append(pa.repeat(pa.scalar(is_utf8, pa.bool_()), len(lines)))
        log(f"  {f.relative}: {len(lines):,} lines read")
    lines_table = pa.table(
        {
            "source_file": pa.chunked_array(sources, pa.string()),
            "line_number": pa.chunked_array(numbers, pa.int64()),
            "line": pa.chunked_array(texts, pa.large_string()),
            "file_is_utf8": pa.chunked_array(utf8, pa.bool_()),
        }
    )

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("lines", lines_table)
        con.execute(f"CREATE TEMP TABLE checked AS {CHECKED_SQL}")
        lines_n, valid_n, rejected_n, distinct_n = con.execute(
            "SELECT count(*), count(*) FILTER (reason IS NULL), "
            "count(*) FILTER (reason IS NOT NULL), "
            "count(DISTINCT event_id) FILTER (reason IS NULL) FROM checked"
        ).fetchone()
        # a redelivered event_id within the day: the copy received first is kept (the window
        # is only paid for when the day has such copies)
        accepted_sql = f"SELECT {EVENT_COLUMNS} FROM checked WHERE reason IS NULL" + (
            " QUALIFY row_number() OVER ("
            "PARTITION BY event_id ORDER BY received_at, source_file, line_number) = 1"
            if distinct_n < valid_n
            else ""
        )
        accepted_n = distinct_n
        date_sql = f"DATE '{dt.date.fromisoformat(day).isoformat()}'"
        # The ingest time is dbt's watermark: incremental models pick up rows ingested after it.
        rows_ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ingested_sql = f"TIMESTAMP '{rows_ingested_at.isoformat()}'"
        _copy_atomically(
            con,
            f"SELECT *, {date_sql} AS delivery_date, {ingested_sql} AS ingested_at "
            f"FROM ({accepted_sql}) ORDER BY occurred_at, event_id",
            day_file(raw, "events", day),
        )
        _copy_atomically(
            con,
            "SELECT source_file, line_number, reason, raw_line, "
            f"{date_sql} AS delivery_date FROM checked WHERE reason IS NOT NULL "
            "ORDER BY source_file, line_number",
            day_file(raw, "rejects", day),
        )
    finally:
        con.close()

    rejected_files = _estimate_lines(unreadable, read)
    result = DayResult(
        day,
        len(listing.files),
        lines_n,
        accepted_n,
        rejected_n,
        valid_n - accepted_n,
        skipped=False,
        rejected_files=len(rejected_files),
        still_landing=len(listing.still_landing),
    )
    _write_json_atomically(
        _manifest_path(raw, day),
        {
            "fingerprint": listing.fingerprint,
            "files": [f.relative for f, _ in read],
            "rejected_files": [asdict(r) for r in rejected_files],
            "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            # the rows' ingested_at (UTC), even when the day holds no row: read_since
            "rows_ingested_at": rows_ingested_at.isoformat(),
            "counts": {
                **{k: getattr(result, k) for k in ("lines", "accepted", "rejected", "duplicates")},
                "rejected_files": len(rejected_files),
                "lines_in_rejected_files": sum(r.estimated_lines for r in rejected_files),
            },
        },
    )
    return result
