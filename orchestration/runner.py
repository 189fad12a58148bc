"""`servisbot-metrics run`: the same Dagster definitions, executed in-process.

1. ingest_job over the delivery days whose landing files changed (one run, a partition range);
2. build_job (dbt build + publish) when anything was ingested, the warehouse is missing or the
   configuration changed. A failure anywhere raises and leaves the published file untouched.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from ingest.landing import day_files, delivery_days, fingerprint
from ingest.raw_layer import raw_layer_digest, read_manifest
from orchestration.build_definition import definition_hash
from orchestration.definitions import build_definitions
from orchestration.publish import REQUIRED_TABLES
from orchestration.resources import PipelineResource
from orchestration.settings import PARTITIONS_START_DATE, WarehousePaths

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


class RunError(RuntimeError):
    """The run failed; the message is one line for the user."""


@dataclass
class RunSummary:
    days_seen: int = 0
    days_ingested: list[str] = field(default_factory=list)
    built: bool = False
    tables: dict[str, int] = field(default_factory=dict)


@contextmanager
def _exclusive(lock: Path, log: Callable[[str], None]) -> Iterator[None]:
    """One run per warehouse at a time; a second one waits for the first."""
    with open(lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another run on this warehouse is in progress; waiting for it to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _instance(paths: WarehousePaths) -> dg.DagsterInstance:
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    config = paths.dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return dg.DagsterInstance.from_config(str(paths.dagster_home))


def _check_days(days: list[str]) -> None:
    latest = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    outside = [d for d in days if not PARTITIONS_START_DATE <= d <= latest]
    if outside:
        raise RunError(
            f"delivery day folder {outside[0]} is outside the supported range "
            f"{PARTITIONS_START_DATE} .. {latest}"
        )


def _changed_days(pipeline: PipelineResource, days: list[str]) -> list[str]:
    raw = pipeline.paths.raw
    return [
        d
        for d in days
        if (read_manifest(raw, d) or {}).get("fingerprint")
        != fingerprint(day_files(pipeline.landing, d))
    ]


def _is_published(paths: WarehousePaths, definition: str) -> bool:
    """Whether the published warehouse was built from this raw layer under this definition
    (false, too, after a build that failed once its raw data had been ingested)."""
    if not (paths.warehouse.exists() and paths.publish_record.exists()):
        return False
    record = json.loads(paths.publish_record.read_text())
    return record.get("definition_hash") == definition and record.get(
        "raw_digest"
    ) == raw_layer_digest(paths.raw)


def _verify(warehouse: Path) -> dict[str, int]:
    """Open the published file read-only, as a reader would, and count the contract's tables."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in REQUIRED_TABLES}
    except duckdb.Error as exc:
        raise RunError(f"published warehouse is incomplete: {exc}") from None
    finally:
        con.close()


def _execute(
    defs: dg.Definitions,
    job: str,
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> None:
    result = defs.get_job_def(job).execute_in_process(
        instance=instance,
        tags=tags,
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "INFO"}}},
            **(run_config or {}),
        },
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        reason = "see the run log"
        if failure and failure.step_failure_data and failure.step_failure_data.error:
            reason = failure.step_failure_data.error.message.strip().splitlines()[0]
        raise RunError(f"{job} failed (run {result.run_id}): {reason}")


def run_pipeline(
    landing: Path,
    warehouse: Path,
    config: Path | None = None,
    state_dir: Path | None = None,
    log: Callable[[str], None] = print,
    full_refresh: bool = False,
) -> RunSummary:
    pipeline = PipelineResource(
        landing_dir=str(landing),
        warehouse_path=str(warehouse),
        state_dir=str(state_dir or ""),
        config_path=str(config or ""),
    )
    metrics_config = pipeline.metrics_config()  # refuse a bad configuration before any work
    paths = pipeline.paths
    try:
        days = delivery_days(pipeline.landing)
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from None
    if not days:
        raise RunError(f"no delivery-day folders (YYYY-MM-DD) in landing folder {pipeline.landing}")
    _check_days(days)

    paths.state.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(days_seen=len(days))
    with _exclusive(paths.lock, log):
        defs = build_definitions(pipeline)
        instance = _instance(paths)
        changed = _changed_days(pipeline, days)
        if changed:
            log(
                f"ingesting {len(changed)} new or changed delivery day(s) of {len(days)}: "
                f"{changed[0]} .. {changed[-1]}"
            )
            _execute(
                defs,
                "ingest_job",
                instance,
                {RANGE_START_TAG: changed[0], RANGE_END_TAG: changed[-1]},
            )
            summary.days_ingested = changed
        if full_refresh or not _is_published(paths, definition_hash(metrics_config)):
            log("building marts (dbt build) and publishing the warehouse")
            _execute(
                defs,
                "build_job",
                instance,
                run_config={"ops": {"dbt_models": {"config": {"full_refresh": full_refresh}}}},
            )
            summary.built = True
        else:
            log("nothing new since the last run; the published warehouse is unchanged")
        summary.tables = _verify(paths.warehouse)
    return summary
