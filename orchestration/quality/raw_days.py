"""The Great Expectations suite on ingested delivery days.

DuckDB measures every day that needs validating in one pass over its Parquet file (columns and
types, missing and duplicate `event_id`s, unknown event types, timestamp sanity, rows outside
the partition, share of rejected lines); Great Expectations then validates one row per day in a
single run, so its cost does not grow with the events (pandas frames of whole days cost ~2 s a
day at 10M events a month). The outcome is stored beside the raw layer (state.py), keyed by the
day's ingest and the suite version, so a day is validated once per ingest and the publish step
reads the gate without running GX again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pandas as pd

from ingest.raw_layer import day_file, read_manifest
from ingest.validate import EVENT_TYPES
from orchestration import planner
from orchestration.quality.gate import day_gates, suite_version
from orchestration.quality.gx_project import GxProject
from orchestration.settings import MAX_REJECT_RATIO
from orchestration.state import DayQuality, WarehousePaths, write_day_quality

SUITE = "raw_delivery_days"
RAW_COLUMNS = {
    "event_id": "VARCHAR",
    "event_type": "VARCHAR",
    "occurred_at": "TIMESTAMP",
    "received_at": "TIMESTAMP",
    "organization": "VARCHAR",
    "bot": "VARCHAR",
    "visitor_id": "VARCHAR",
    "conversation_id": "VARCHAR",
    "channel": "VARCHAR",
    "page_url": "VARCHAR",
    "properties": "VARCHAR",
    "source_file": "VARCHAR",
    "line_number": "BIGINT",
    "delivery_date": "DATE",
    "ingested_at": "TIMESTAMP",
}
COLUMNS_SIGNATURE = ", ".join(f"{c} {t}" for c, t in RAW_COLUMNS.items())
MAX_CLOCK_LEAD_SECONDS = 24 * 3600  # occurred_at at most 24 h after received_at (the contract)
# rows of each day that break a rule; every count must be 0
ZERO_COUNTS = {
    "missing_event_ids": "count(*) - count(event_id)",
    "duplicate_event_ids": "count(event_id) - count(DISTINCT event_id)",
    "unknown_event_types": "count(*) FILTER (event_type IS NULL OR event_type NOT IN ({types}))",
    # no bound on occurred_at but the contract's (max_clock_lead_seconds): a device clock may be
    # ahead of the ingest, or reset to 1970, and the line is still valid
    "missing_occurred_at": "count(*) FILTER (occurred_at IS NULL)",
    "rows_outside_partition": "count(*) FILTER (delivery_date IS DISTINCT FROM DATE '{day}')",
}


def _expectations(max_reject_ratio: float) -> list:
    return [
        gxe.ExpectColumnValuesToBeUnique(column="delivery_date"),
        gxe.ExpectColumnValuesToBeInSet(column="columns", value_set=[COLUMNS_SIGNATURE]),
        *(
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0, max_value=0)
            for name in ZERO_COUNTS
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="max_clock_lead_seconds", max_value=MAX_CLOCK_LEAD_SECONDS
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="reject_ratio", min_value=0, max_value=max_reject_ratio
        ),
    ]


def _measure(con: duckdb.DuckDBPyConnection, paths: WarehousePaths, day: str) -> dict:
    """One day's row of the frame GX validates: what the expectations look at, from DuckDB."""
    parquet = str(day_file(paths.raw, "events", day))
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [parquet]).fetchall()
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    values = {"types": types, "day": date.fromisoformat(day)}
    counts = ", ".join(f"{sql.format(**values)} AS {name}" for name, sql in ZERO_COUNTS.items())
    columns = [c for c, *_ in described]
    if set(RAW_COLUMNS) <= set(columns):
        cursor = con.execute(
            f"SELECT count(*) AS events, {counts}, "
            "max(epoch(occurred_at) - epoch(received_at)) AS max_clock_lead_seconds "
            "FROM read_parquet(?)",
            [parquet],
        )
        names = [d[0] for d in cursor.description]
        measured = dict(zip(names, cursor.fetchone(), strict=True))
    else:  # the counts need the columns: the signature expectation reports what is wrong
        measured = {"events": None, **dict.fromkeys(ZERO_COUNTS), "max_clock_lead_seconds": None}
    return {
        "delivery_date": day,
        "columns": ", ".join(f"{c} {t}" for c, t, *_ in described),
        **measured,
    }


def _frame(paths: WarehousePaths, manifests: dict[str, dict]) -> pd.DataFrame:
    """The frame GX validates: one row per day of `manifests` (day -> its manifest)."""
    con = duckdb.connect()
    try:
        rows = []
        for day, manifest in manifests.items():
            counts = manifest["counts"]
            # an unreadable file counts as the lines it would have brought (an estimate)
            unread = counts.get("lines_in_rejected_files", 0)
            lines, rejected = counts["lines"] + unread, counts["rejected"] + unread
            rows.append(
                _measure(con, paths, day)
                | {
                    "lines": lines,
                    "rejected": rejected,
                    "reject_ratio": rejected / lines if lines else 0.0,
                    "unreadable_files": "; ".join(
                        f"{f['file']}: {f['reason']}" for f in manifest.get("rejected_files", [])
                    ),
                }
            )
    finally:
        con.close()
    return pd.DataFrame(rows)


def _day_failures(frame: pd.DataFrame, outcome, max_reject_ratio: float) -> dict[str, list[str]]:
    """Each day's failures, in expectation order, the reject ratio in words first."""
    by_day = frame.set_index("delivery_date")
    failures: dict[str, list[str]] = {day: [] for day in by_day.index}
    for expectation in outcome.expectations:
        for row in expectation.unexpected_rows:
            day = row["delivery_date"]
            if expectation.column == "reject_ratio":
                line = by_day.loc[day]
                unreadable = (
                    f" (counting the lines of unreadable files: {line['unreadable_files']})"
                    if line["unreadable_files"]
                    else ""
                )
                failures[day].insert(
                    0,
                    f"{int(line['rejected']):,} of {int(line['lines']):,} lines rejected "
                    f"({line['reject_ratio']:.1%}), more than the maximum {max_reject_ratio:.1%}"
                    + unreadable
                    + " (re-deliver the day, or raise the maximum: --max-reject-ratio, "
                    f"{MAX_REJECT_RATIO.env_var})",
                )
            else:
                value = row[expectation.column]
                shown = int(value) if isinstance(value, float) and value.is_integer() else value
                failures[day].append(f"{expectation.expectation}: {shown}")
    return failures


def check_days(
    paths: WarehousePaths, max_reject_ratio: float, log: Callable[[str], None]
) -> tuple[list[DayQuality], list[str], Path | None]:
    """Every ingested day's quality, validating the days not yet validated as ingested now
    under this suite version. Returns (all days, the days validated now, Data Docs index)."""
    version = suite_version(max_reject_ratio)
    gates = {gate.delivery_date: gate for gate in day_gates(paths)}
    stored = {day: gate.quality for day, gate in gates.items()}
    for day, gate in gates.items():
        if not gate.ingest:  # nothing whole to validate: the day fails until it is read again
            stored[day] = DayQuality(day, False, 0.0, [planner.DAMAGED_DAY], "", version)
    pending = [
        day
        for day, gate in gates.items()
        if gate.ingest and not planner.is_validated(gate, version)
    ]
    if not pending:
        return [stored[d] for d in gates], [], None
    frame = _frame(paths, {day: read_manifest(paths.raw, day) for day in pending})
    project = GxProject(paths.state)
    outcome = project.validate(
        SUITE,
        _expectations(max_reject_ratio),
        frame,
        f"{pending[0]}..{pending[-1]}",
        row_key="delivery_date",
    )
    failures = _day_failures(frame, outcome, max_reject_ratio)
    ratios = frame.set_index("delivery_date")["reject_ratio"]
    for day in pending:
        ratio = float(ratios[day])
        quality = DayQuality(
            day,
            not failures[day],
            round(ratio, 6),
            failures[day],
            gates[day].ingest,
            version,
        )
        write_day_quality(paths, quality)
        log(
            f"{day}: data-quality suite {'passed' if quality.passed else 'FAILED'}"
            + ("" if quality.passed else f": {quality.failures[0]}")
        )
        stored[day] = quality
    return [stored[d] for d in gates], pending, project.build_docs()
