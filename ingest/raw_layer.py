"""The raw layer: validated events and rejected lines as Parquet, one partition per delivery day.

    RAW/events/YYYY-MM-DD/events.parquet                 accepted, de-duplicated within the day
    RAW/rejects/YYYY-MM-DD/rejects.parquet               one row per rejected line
    RAW/manifest/YYYY-MM-DD.json                          what was read, and the counts

A day is (re)written only when its landing files changed, so later runs extend the layer.
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
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.landing import day_files, fingerprint
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


def events_glob(raw: Path) -> str:
    return str(raw / "events" / "*" / "*.parquet")


def rejects_glob(raw: Path) -> str:
    return str(raw / "rejects" / "*" / "*.parquet")


def _manifest_path(raw: Path, day: str) -> Path:
    return raw / "manifest" / f"{day}.json"


def read_manifest(raw: Path, day: str) -> dict | None:
    path = _manifest_path(raw, day)
    return json.loads(path.read_text()) if path.exists() else None


@dataclass(frozen=True)
class PendingDay:
    delivery_date: str
    fingerprint: str
    newest_mtime_ns: int  # of its landing files: a day still being written is recent


def pending_days(landing: Path, days: list[str], raw: Path) -> list[PendingDay]:
    """The delivery days whose landing files differ from what the raw layer holds."""
    pending = []
    for day in days:
        files = day_files(landing, day)
        print_ = fingerprint(files)
        if (read_manifest(raw, day) or {}).get("fingerprint") != print_:
            newest = max((f.mtime_ns for f in files), default=0)
            pending.append(PendingDay(day, print_, newest))
    return pending


def raw_layer_digest(raw: Path) -> str:
    """Identifies what the raw layer holds: changes whenever any delivery day is (re)ingested."""
    digest = hashlib.sha256()
    for manifest in sorted((raw / "manifest").glob("*.json")):
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


def ingest_day(
    landing: Path,
    day: str,
    raw: Path,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> DayResult:
    """Validate one delivery day's landing files into the raw layer (idempotent)."""
    files = day_files(landing, day)
    print_ = fingerprint(files)
    previous = read_manifest(raw, day)
    if previous and previous["fingerprint"] == print_ and not force:
        counts = previous["counts"]
        return DayResult(
            day,
            len(files),
            counts["lines"],
            counts["accepted"],
            counts["rejected"],
            counts["duplicates"],
            skipped=True,
        )

    sources, numbers, texts, utf8 = [], [], [], []
    for f in files:
        lines, is_utf8 = f.read_lines()
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
        ingested_sql = f"TIMESTAMP '{dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()}'"
        _copy_atomically(
            con,
            f"SELECT *, {date_sql} AS delivery_date, {ingested_sql} AS ingested_at "
            f"FROM ({accepted_sql}) ORDER BY occurred_at, event_id",
            raw / "events" / day / "events.parquet",
        )
        _copy_atomically(
            con,
            "SELECT source_file, line_number, reason, raw_line, "
            f"{date_sql} AS delivery_date FROM checked WHERE reason IS NOT NULL "
            "ORDER BY source_file, line_number",
            raw / "rejects" / day / "rejects.parquet",
        )
    finally:
        con.close()

    result = DayResult(
        day, len(files), lines_n, accepted_n, rejected_n, valid_n - accepted_n, skipped=False
    )
    _write_json_atomically(
        _manifest_path(raw, day),
        {
            "fingerprint": print_,
            "files": [f.relative for f in files],
            "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "counts": {
                k: getattr(result, k) for k in ("lines", "accepted", "rejected", "duplicates")
            },
        },
    )
    return result
