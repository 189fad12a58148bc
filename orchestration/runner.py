"""`servisbot-metrics run` and `backfill`: the same Dagster definitions, executed in-process.

run: refresh_job over the delivery days whose landing files are new or changed (one run over
their range), or build_job when nothing is new but the published warehouse is missing, out of
date or refused last time. backfill: refresh_job over a given range, re-reading every day.
A failure anywhere (a step, a dbt test, a blocking data-quality check) raises, and the
published file stays as it was. A command holds the state folder's command lock from start to
end, so CLI runs launched together go one after another; every writing step also takes the
writer lock, which runs launched from Dagster (the UI, the sensor, the schedule) share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from ingest.landing import delivery_days, stray_entries
from ingest.raw_layer import LandingScan, ingested_days, raw_layer_digest, scan_landing
from orchestration import dbt_code, planner, state
from orchestration.console_log import concise_console_logger
from orchestration.instance import instance_for
from orchestration.keys import (
    BUILD_JOB,
    CLI_PROCESS_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REFRESH_JOB,
)
from orchestration.locks import exclusive
from orchestration.metrics_config import ConfigError
from orchestration.partitions import latest_delivery_day, outside_partitions
from orchestration.publish import REQUIRED_TABLES, replace_refusal
from orchestration.quality.gate import suite_version
from orchestration.resources import PipelineResource
from orchestration.run_workers import fail_dead_runs, process_identity
from orchestration.settings import (
    ENGINES,
    PARTITIONS_START_DATE,
    SETTLE_SECONDS,
    SETTLE_WAIT_SECONDS,
)
from orchestration.state import WarehousePaths


class RunError(RuntimeError):
    """The run failed; the message is one line for the user."""


@dataclass
class RunSummary:
    days_seen: int = 0
    days_ingested: list[str] = field(default_factory=list)
    built: bool = False
    tables: dict[str, int] = field(default_factory=dict)


def _some(names: list[str], shown: int) -> str:
    """The first `shown` of `names`, and "..." when there are more."""
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _supported_range() -> str:
    return f"{PARTITIONS_START_DATE} .. {latest_delivery_day()}"


def _is_published(pipeline: PipelineResource, log: Callable[[str], None]) -> bool:
    """Whether the published warehouse is what a build would make now (planner.is_published)."""
    paths = pipeline.paths
    try:
        stamp = state.read_publish_stamp(paths)
    except state.StateUnreadable as exc:
        log(f"{exc}; building and publishing again to be sure")
        return False
    if not planner.is_published(
        stamp,
        planner.definition_hash(
            pipeline.metrics_config().content_hash, dbt_code.code_hash(), pipeline.engine
        ),
        raw_layer_digest(paths.raw),
        suite_version(pipeline.max_reject_ratio),
    ):
        return False
    try:  # and readable: its Parquet files (`<warehouse>.data`) may have been lost
        _verify(paths.warehouse)
    except RunError as exc:
        log(f"{exc}; building and publishing again")
        return False
    return True


def _verify(warehouse: Path) -> dict[str, int]:
    """Open the published file read-only, as a reader would, and count the contract's tables."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in REQUIRED_TABLES}
    except duckdb.Error as exc:
        raise RunError(f"published warehouse is incomplete: {exc}") from None
    finally:
        con.close()


def _failure_reason(result: dg.ExecuteInProcessResult) -> str:
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            rows = evaluation.metadata.get("dagster_dbt/failed_row_count")
            detail = evaluation.description or (
                f"dbt test, {rows.value} failing row(s)" if rows else "see its metadata in Dagster"
            )
            return (
                f"check {evaluation.check_name} on "
                f"{evaluation.asset_key.to_user_string()} failed: {detail}"
            )
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    if not (failure and failure.step_failure_data and failure.step_failure_data.error):
        return "see the run log"
    error = failure.step_failure_data.error
    while error.cause:  # the user's exception, not Dagster's wrapper around it
        error = error.cause
    message = error.message.strip().splitlines()[0]
    kind, _, text = message.partition(": ")
    return f"{failure.step_key}: {text if kind.isidentifier() and text else message}"


def _definitions(pipeline: PipelineResource) -> dg.Definitions:
    """The definitions, loaded only when a job runs (a run with nothing new needs none, nor
    dagster-dbt). The dbt assets read the dbt manifest: the code is parsed first if it changed."""
    dbt_code.prepare()
    from orchestration.definitions import build_definitions

    return build_definitions(pipeline)


def _execute(
    defs: dg.Definitions,
    job: str,
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> None:
    job_def = defs.resolve_job_def(job).with_logger_defs({"console": concise_console_logger})
    result = job_def.execute_in_process(
        instance=instance,
        tags={**(tags or {}), CLI_PROCESS_TAG: str(process_identity(os.getpid()))},
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "INFO"}}},
            **(run_config or {}),
        },
    )
    if not result.success:
        raise RunError(f"{job} failed (run {result.run_id}): {_failure_reason(result)}")


def _ops_config(full_refresh: bool, force: bool | None = None) -> dict:
    ops: dict = {"dbt_models": {"config": {"full_refresh": full_refresh}}}
    if force is not None:
        ops["raw_layer"] = {"config": {"force": force}}
    return {"ops": ops}


def _pipeline(
    landing: Path,
    warehouse: Path,
    config: Path | None,
    state_dir: Path | None,
    max_reject_ratio: float | None,
    settle_seconds: float | None,
    engine: str,
) -> PipelineResource:
    paths = WarehousePaths.for_warehouse(warehouse, state_dir)
    if quoted := next((p for p in (paths.warehouse, paths.state) if "'" in str(p)), None):
        # dbt's SQL names the raw layer's files by their path, in quotes
        raise RunError(f"a warehouse or state path cannot contain a single quote ('): {quoted}")
    pipeline = PipelineResource(
        landing_dir=str(landing),
        warehouse_path=str(warehouse),
        state_dir=str(state_dir or ""),
        config_path=str(config or ""),
        engine=engine,
        **({} if max_reject_ratio is None else {"max_reject_ratio": max_reject_ratio}),
        **({} if settle_seconds is None else {"settle_seconds": settle_seconds}),
    )
    try:  # refuse a bad configuration before any work
        pipeline.metrics_config()
    except ConfigError as exc:
        raise RunError(f"configuration {pipeline.config_file}: {exc}") from None
    if refusal := replace_refusal(pipeline.paths.warehouse):
        raise RunError(refusal)
    return pipeline


def _landing_days(pipeline: PipelineResource, log: Callable[[str], None]) -> list[str]:
    """The delivery-day folders to read: those outside the supported range are left where they
    are, with a warning on every run (as the landing sensor does)."""
    try:
        days = delivery_days(pipeline.landing)
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from None
    if stray := stray_entries(pipeline.landing):
        log(
            f"warning: {len(stray)} entr{'y' if len(stray) == 1 else 'ies'} in the landing "
            f"folder not read (not a delivery-day folder YYYY-MM-DD): {_some(stray, 5)}"
        )
    if outside := outside_partitions(days):
        log(
            f"warning: ignoring {len(outside)} delivery-day folder(s) outside the supported "
            f"range {_supported_range()}: {_some(outside, 5)}"
        )
        days = [d for d in days if d not in outside]
    if not days:
        raise RunError(
            f"no delivery-day folders (YYYY-MM-DD, {_supported_range()}) in landing folder "
            f"{pipeline.landing}"
        )
    return days


def run_pipeline(
    landing: Path,
    warehouse: Path,
    config: Path | None = None,
    state_dir: Path | None = None,
    log: Callable[[str], None] = print,
    full_refresh: bool = False,
    max_reject_ratio: float | None = None,
    settle_seconds: float | None = None,
    engine: str = ENGINES[0],
    settle_wait_seconds: float = SETTLE_WAIT_SECONDS.default,
) -> RunSummary:
    pipeline = _pipeline(
        landing, warehouse, config, state_dir, max_reject_ratio, settle_seconds, engine
    )
    days = _landing_days(pipeline, log)
    with _one_command_at_a_time(pipeline.paths, log):
        scan = _settled_scan(pipeline, days, settle_wait_seconds, log)
        return _run(pipeline, days, scan, log, full_refresh)


def _one_command_at_a_time(
    paths: WarehousePaths, log: Callable[[str], None]
) -> AbstractContextManager[None]:
    return exclusive(
        paths.command_lock,
        lambda: log("another servisbot-metrics command is using this warehouse; waiting for it"),
    )


def _settled_scan(
    pipeline: PipelineResource, days: list[str], wait_limit: float, log: Callable[[str], None]
) -> LandingScan:
    """The landing folder's days once none of their files is still being written: the run
    waits for them to settle (planner.landing_wait), and fails naming them if that would take
    more than `wait_limit` seconds."""
    waited = 0.0
    while True:
        scan = scan_landing(pipeline.landing, days, pipeline.paths.raw, pipeline.settle_seconds)
        wait = planner.landing_wait(scan.settles_at, time.time(), waited, wait_limit)
        if wait == 0:
            return scan
        files = f"{len(scan.still_landing)} landing file(s) still being written (changed in the "
        files += f"last {pipeline.settle_seconds:g} s): {_some(scan.still_landing, 3)}"
        if wait is None:
            raise RunError(
                f"{files}; they would settle after the {wait_limit:g} s a run waits "
                f"({SETTLE_WAIT_SECONDS.env_var}). Run again once they are complete, or with "
                f"{SETTLE_SECONDS.env_var}=0 to read them as they are"
            )
        log(f"waiting {wait:.1f} s for {files}")
        time.sleep(wait)
        waited += wait


def _run(
    pipeline: PipelineResource,
    days: list[str],
    scan: LandingScan,
    log: Callable[[str], None],
    full_refresh: bool,
) -> RunSummary:
    paths = pipeline.paths
    summary = RunSummary(days_seen=len(days))
    instance = instance_for(paths.dagster_home)
    fail_dead_runs(instance)
    pending = [p.delivery_date for p in scan.pending]
    published = lambda: _is_published(pipeline, log)  # noqa: E731 (asked only when nothing is new)
    plan = planner.plan_cli_run(
        pending, len(days), full_refresh, published, ingested_days(paths.raw)
    )
    log(plan.message)
    if plan.job == REFRESH_JOB:
        tags = {RANGE_START_TAG: plan.days[0], RANGE_END_TAG: plan.days[-1]}
        _execute(_definitions(pipeline), plan.job, instance, tags, _ops_config(full_refresh))
        summary.days_ingested, summary.built = list(plan.days), True
    elif plan.job == BUILD_JOB:
        _execute(_definitions(pipeline), plan.job, instance, run_config=_ops_config(full_refresh))
        summary.built = True
    if summary.built or paths.warehouse.exists():  # else nothing was ever published
        summary.tables = _verify(paths.warehouse)
    return summary


def backfill_pipeline(
    landing: Path,
    warehouse: Path,
    first: str,
    last: str,
    config: Path | None = None,
    state_dir: Path | None = None,
    log: Callable[[str], None] = print,
    max_reject_ratio: float | None = None,
    settle_seconds: float | None = None,
    engine: str = ENGINES[0],
    settle_wait_seconds: float = SETTLE_WAIT_SECONDS.default,
) -> RunSummary:
    """Re-ingest every delivery day in [first, last] (both included), rebuild and publish."""
    pipeline = _pipeline(
        landing, warehouse, config, state_dir, max_reject_ratio, settle_seconds, engine
    )
    if first > last:
        raise RunError(f"backfill range is empty: {first} is after {last}")
    if outside_partitions([first, last]):
        raise RunError(f"backfill range {first} .. {last} is outside {_supported_range()}")
    days = [d for d in _landing_days(pipeline, log) if first <= d <= last]
    if not days:
        raise RunError(f"no delivery-day folders between {first} and {last} in {pipeline.landing}")
    with _one_command_at_a_time(pipeline.paths, log):
        _settled_scan(pipeline, days, settle_wait_seconds, log)
        return _backfill(pipeline, days, log)


def _backfill(
    pipeline: PipelineResource, days: list[str], log: Callable[[str], None]
) -> RunSummary:
    instance = instance_for(pipeline.paths.dagster_home)
    fail_dead_runs(instance)
    log(f"backfill: re-ingesting {len(days)} delivery day(s) {days[0]} .. {days[-1]}")
    _execute(
        _definitions(pipeline),
        REFRESH_JOB,
        instance,
        {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]},
        _ops_config(full_refresh=False, force=True),
    )
    return RunSummary(
        days_seen=len(days),
        days_ingested=days,
        built=True,
        tables=_verify(pipeline.paths.warehouse),
    )
