"""The Great Expectations suite on each ingested delivery day.

Per day, two validations: the accepted events (columns and types, accepted event types,
`event_id` unique and present after de-duplication, timestamp sanity) and the day's line counts
(share of rejected lines at most the configured maximum). The outcome is stored beside the raw
layer (gate.py), keyed by the day's ingest and the suite version, so a day is validated once
per ingest and the publish step reads the gate without running GX again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pandas as pd

from ingest.raw_layer import read_manifest
from ingest.validate import EVENT_TYPES
from orchestration.quality.gate import (
    DayQuality,
    ingest_id,
    ingested_days,
    is_current,
    store_quality,
    stored_quality,
    suite_version,
)
from orchestration.quality.gx_project import GxProject
from orchestration.settings import PARTITIONS_START_DATE, WarehousePaths

EVENTS_SUITE, DAY_SUITE = "raw_events_day", "raw_delivery_day"
RAW_COLUMNS = {
    "event_id": "str",
    "event_type": "str",
    "occurred_at": "datetime64[us]",
    "received_at": "datetime64[us]",
    "organization": "str",
    "bot": "str",
    "visitor_id": "str",
    "conversation_id": "str",
    "channel": "str",
    "page_url": "str",
    "properties": "str",
    "source_file": "str",
    "line_number": "int64",
    "delivery_date": "datetime64[us]",
    "ingested_at": "datetime64[us]",
}
DERIVED_COLUMNS = ("clock_lead_seconds", "is_in_partition")  # computed for the suite
MAX_CLOCK_LEAD_SECONDS = 24 * 3600  # occurred_at at most 24 h after received_at (the contract)


def _events_expectations() -> list:
    types = [
        gxe.ExpectColumnValuesToBeOfType(column=c, type_=t)
        for c, t in RAW_COLUMNS.items()
        if t != "str"
    ]
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*RAW_COLUMNS, *DERIVED_COLUMNS], exact_match=True
        ),
        *types,
        gxe.ExpectColumnValuesToNotBeNull(column="event_id"),
        gxe.ExpectColumnValuesToBeUnique(column="event_id"),
        gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)),
        gxe.ExpectColumnValuesToNotBeNull(column="occurred_at"),
        gxe.ExpectColumnValuesToBeBetween(
            column="occurred_at", min_value=pd.Timestamp(PARTITIONS_START_DATE)
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="clock_lead_seconds", max_value=MAX_CLOCK_LEAD_SECONDS
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="ingested_at", column_B="occurred_at", or_equal=True
        ),
        gxe.ExpectColumnValuesToBeInSet(column="is_in_partition", value_set=[True]),
    ]


def _day_expectations(max_reject_ratio: float) -> list:
    return [
        gxe.ExpectTableRowCountToEqual(value=1),
        gxe.ExpectColumnValuesToBeBetween(
            column="reject_ratio", min_value=0, max_value=max_reject_ratio
        ),
    ]


def _validate(
    project: GxProject, paths: WarehousePaths, day: str, manifest: dict, max_reject_ratio: float
) -> DayQuality:
    con = duckdb.connect()
    try:
        events = con.execute(
            "SELECT *, epoch(occurred_at) - epoch(received_at) AS clock_lead_seconds, "
            "delivery_date = ?::DATE AS is_in_partition FROM read_parquet(?)",
            [day, str(paths.raw / "events" / day / "events.parquet")],
        ).df()
    finally:
        con.close()
    events_outcome = project.validate(EVENTS_SUITE, _events_expectations(), events, day)
    counts = manifest["counts"]
    ratio = counts["rejected"] / counts["lines"] if counts["lines"] else 0.0
    day_frame = pd.DataFrame(
        [
            {
                "delivery_date": day,
                "lines": counts["lines"],
                "rejected": counts["rejected"],
                "reject_ratio": ratio,
            }
        ]
    )
    day_outcome = project.validate(DAY_SUITE, _day_expectations(max_reject_ratio), day_frame, day)
    failures = events_outcome.failures + day_outcome.failures
    if ratio > max_reject_ratio:
        failures = [
            f"{counts['rejected']:,} of {counts['lines']:,} lines rejected ({ratio:.1%}), more "
            f"than the maximum {max_reject_ratio:.1%}",
            *[f for f in failures if "reject_ratio" not in f],
        ]
    return DayQuality(
        day,
        not failures,
        round(ratio, 6),
        failures,
        ingest_id(manifest),
        suite_version(max_reject_ratio),
    )


def check_days(
    paths: WarehousePaths, max_reject_ratio: float, log: Callable[[str], None]
) -> tuple[list[DayQuality], list[str], Path | None]:
    """Every ingested day's quality, validating the days not yet validated as ingested now
    under this suite version. Returns (all days, the days validated now, Data Docs index)."""
    version, project = suite_version(max_reject_ratio), None
    qualities, validated = [], []
    for day in ingested_days(paths):
        manifest = read_manifest(paths.raw, day)
        stored = stored_quality(paths, day)
        if is_current(stored, manifest, version):
            qualities.append(stored)
            continue
        project = project or GxProject(paths.state)
        quality = _validate(project, paths, day, manifest, max_reject_ratio)
        store_quality(paths, quality)
        log(
            f"{day}: data-quality suite {'passed' if quality.passed else 'FAILED'}"
            + ("" if quality.passed else f": {quality.failures[0]}")
        )
        qualities.append(quality)
        validated.append(day)
    docs = project.build_docs() if project else None
    return qualities, validated, docs
