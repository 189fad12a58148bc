"""The publish gate's facts about ingested delivery days: which ingest each day holds and the
data-quality outcome stored for it. The decision itself is planner.publish_refusals.

Light on purpose (no Great Expectations import): the publish step reads the outcomes that
raw_days.py stored, keyed by the day's ingest and the suite version.
"""

from __future__ import annotations

import hashlib

from ingest.raw_layer import ingested_days, read_manifest
from orchestration import planner
from orchestration.state import DayQuality, WarehousePaths, read_day_quality

SUITE_REVISION = 4  # bump when the raw-day expectations change: every day is validated again


def suite_version(max_reject_ratio: float) -> str:
    return hashlib.sha256(f"{SUITE_REVISION}:{max_reject_ratio!r}".encode()).hexdigest()[:12]


def ingest_id(manifest: dict) -> str:
    return f"{manifest['ingested_at']}/{manifest['fingerprint'][:16]}"


def day_gates(paths: WarehousePaths) -> list[planner.DayGate]:
    gates = []
    for day in ingested_days(paths.raw):
        manifest = read_manifest(paths.raw, day)  # None: the day's raw files are damaged
        ingest = ingest_id(manifest) if manifest else ""
        gates.append(planner.DayGate(day, ingest, read_day_quality(paths, day)))
    return gates


def gate_failures(paths: WarehousePaths, max_reject_ratio: float) -> list[str]:
    """Why the raw layer may not be published: days failing their suite or not validated as
    they are now. Empty when every ingested day passed."""
    return planner.day_refusals(day_gates(paths), suite_version(max_reject_ratio))


def quality_table(qualities: list[DayQuality]) -> str:
    rows = "\n".join(
        f"| {q.delivery_date} | {'pass' if q.passed else '**FAIL**'} | {q.reject_ratio:.2%} "
        f"| {'; '.join(q.failures)} |"
        for q in qualities
    )
    return f"| delivery day | suite | rejected | failures |\n|---|---|---|---|\n{rows}"
