"""The publish gate on ingested delivery days: their stored data-quality outcomes.

Light on purpose (no Great Expectations import): the publish step reads the outcomes that
raw_days.py stored, keyed by the day's ingest and the suite version.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.raw_layer import read_manifest
from orchestration.settings import WarehousePaths

SUITE_REVISION = 3  # bump when the raw-day expectations change: every day is validated again


@dataclass(frozen=True)
class DayQuality:
    delivery_date: str
    passed: bool
    reject_ratio: float
    failures: list[str]
    ingest: str  # which ingest of the day was validated (manifest ingested_at + fingerprint)
    suite_version: str


def suite_version(max_reject_ratio: float) -> str:
    return hashlib.sha256(f"{SUITE_REVISION}:{max_reject_ratio!r}".encode()).hexdigest()[:12]


def ingest_id(manifest: dict) -> str:
    return f"{manifest['ingested_at']}/{manifest['fingerprint'][:16]}"


def _outcome_path(paths: WarehousePaths, day: str) -> Path:
    return paths.quality / f"{day}.json"


def stored_quality(paths: WarehousePaths, day: str) -> DayQuality | None:
    path = _outcome_path(paths, day)
    return DayQuality(**json.loads(path.read_text())) if path.exists() else None


def store_quality(paths: WarehousePaths, quality: DayQuality) -> None:
    target = _outcome_path(paths, quality.delivery_date)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(quality), indent=2))
    os.replace(tmp, target)


def is_current(stored: DayQuality | None, manifest: dict, version: str) -> bool:
    return bool(stored and stored.ingest == ingest_id(manifest) and stored.suite_version == version)


def ingested_days(paths: WarehousePaths) -> list[str]:
    return sorted(p.stem for p in (paths.raw / "manifest").glob("*.json"))


def gate_failures(paths: WarehousePaths, max_reject_ratio: float) -> list[str]:
    """Why the raw layer may not be published: days failing their suite or not validated as
    they are now. Empty when every ingested day passed."""
    version, reasons = suite_version(max_reject_ratio), []
    for day in ingested_days(paths):
        stored = stored_quality(paths, day)
        if not is_current(stored, read_manifest(paths.raw, day), version):
            reasons.append(f"delivery day {day} has not been validated since its last ingest")
        elif not stored.passed:
            reasons.append(
                f"delivery day {day} failed its data-quality suite: {stored.failures[0]}"
            )
    return reasons


def _marts_record(paths: WarehousePaths) -> Path:
    return paths.state / "marts_checked.json"


def record_mart_checks(paths: WarehousePaths, build: dict, passed: bool) -> None:
    """Which build of the build database the blocking mart checks saw, and whether it passed."""
    tmp = _marts_record(paths).with_name(f".marts_checked.json.{os.getpid()}")
    tmp.write_text(json.dumps({"build": build, "passed": passed}, indent=2))
    os.replace(tmp, _marts_record(paths))


def mart_gate_failure(paths: WarehousePaths, build: dict) -> str | None:
    """Why the build database may not be published: an unfinished build (another run's dbt
    failed or was killed), or marts not checked as they are now, or checks that failed."""
    if not build.get("build_id") or build.get("in_progress"):
        return "the build database holds an unfinished build; run again to rebuild it"
    path = _marts_record(paths)
    checked = json.loads(path.read_text()) if path.exists() else {}
    if checked.get("build") != build:
        return "the marts of the current build have not been checked; run again"
    if not checked.get("passed"):
        return "the marts of the current build failed a blocking data-quality check"
    return None


def quality_table(qualities: list[DayQuality]) -> str:
    rows = "\n".join(
        f"| {q.delivery_date} | {'pass' if q.passed else '**FAIL**'} | {q.reject_ratio:.2%} "
        f"| {'; '.join(q.failures)} |"
        for q in qualities
    )
    return f"| delivery day | suite | rejected | failures |\n|---|---|---|---|\n{rows}"
