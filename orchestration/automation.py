"""What makes the pipeline run by itself: a sensor on the landing folder and a daily schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import dagster as dg

from ingest.landing import delivery_days
from ingest.raw_layer import scan_landing
from orchestration import dbt_code, planner, state
from orchestration.keys import (
    BUILD_JOB,
    CONFIG_HASH_TAG,
    PUBLISHED_WAREHOUSE,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REFRESH_JOB,
)
from orchestration.metrics_config import ConfigError
from orchestration.partitions import outside_partitions
from orchestration.resources import PipelineResource
from orchestration.settings import (
    CONFIG_SENSOR_INTERVAL_SECONDS,
    DAILY_SCHEDULE_CRON,
    LANDING_SETTLE_SECONDS,
    SENSOR_INTERVAL_SECONDS,
)

RETRY_SECONDS = 3600  # a day requested but still not ingested after this is requested again


@dg.sensor(
    job_name=REFRESH_JOB,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches refresh_job over the delivery days whose landing files are new or "
    f"changed, once no file of theirs changed for {LANDING_SETTLE_SECONDS} s. Requests a day "
    f"again if it is still not ingested {RETRY_SECONDS // 60} minutes later (a failed run).",
)
def landing_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource):
    try:
        days = delivery_days(pipeline.landing)
    except FileNotFoundError as exc:
        return dg.SkipReason(str(exc))
    outside = outside_partitions(days)
    if outside:  # no partition can take them: ingest the others, say so every tick
        context.log.warning(
            f"ignoring {len(outside)} landing folder(s) outside the delivery-day partitions: "
            f"{', '.join(outside[:5])}"
        )
        days = [d for d in days if d not in outside]
    # cursor: {day: [fingerprint requested, when]} for days requested and not yet ingested
    now = time.time()
    scan = scan_landing(pipeline.landing, days, pipeline.paths.raw, pipeline.settle_seconds)
    pending = scan.pending
    requests = planner.landing_requests(
        pending, json.loads(context.cursor or "{}"), now, LANDING_SETTLE_SECONDS, RETRY_SECONDS
    )
    context.update_cursor(json.dumps(requests.cursor, sort_keys=True))
    due = requests.due
    if not due:
        landing = len(requests.settling | {f.split("/")[0] for f in scan.still_landing})
        return dg.SkipReason(
            f"nothing new to ingest in {pipeline.landing}"
            + (f"; {landing} day(s) still landing" if landing else "")
        )
    first, last = due[0].delivery_date, due[-1].delivery_date
    key = hashlib.sha256(json.dumps([[p.delivery_date, p.fingerprint] for p in due]).encode())
    return dg.RunRequest(
        run_key=f"{first}..{last}:{key.hexdigest()[:12]}:{int(now)}",
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
    )


@dg.schedule(
    job_name=REFRESH_JOB,
    cron_schedule=DAILY_SCHEDULE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day: yesterday's delivery day (late files included), then the marts "
    "and the publish, so the warehouse is rebuilt at least daily.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


@dg.sensor(
    job_name=BUILD_JOB,
    minimum_interval_seconds=CONFIG_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When the configuration in effect (edited on disk, or applied by "
    "apply_config_job) differs from the one the marts were built with, launches build_job "
    "over exactly the dbt assets that depend on what changed, then the checks and the publish "
    "(a change of the dbt code itself rebuilds every model). An invalid document is reported "
    "here and not applied.",
)
def config_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineResource):
    try:
        metrics = pipeline.metrics_config()
    except ConfigError as exc:
        context.log.error(
            f"configuration {pipeline.config_file} not applied:\n" + "\n".join(exc.errors)
        )
        return dg.SkipReason(f"configuration {pipeline.config_file} is invalid: {exc}")
    build, code_hash, now = state.read_build(pipeline.paths), dbt_code.code_hash(), time.time()
    changed = planner.config_change_models(
        build,
        planner.definition_hash(metrics.content_hash, code_hash, pipeline.engine),
        code_hash,
        metrics.dbt_vars(),
        dbt_code.manifest(),
    )
    skip = planner.config_rebuild_skip(
        build, changed, metrics.content_hash, json.loads(context.cursor or "{}"), now, RETRY_SECONDS
    )
    if skip:
        return dg.SkipReason(skip)
    context.update_cursor(json.dumps({"hash": metrics.content_hash, "at": now}))
    assets = dbt_code.model_asset_keys(changed)
    return dg.RunRequest(
        run_key=f"config:{metrics.content_hash}:{int(now)}",
        asset_selection=sorted(assets | {PUBLISHED_WAREHOUSE}, key=lambda k: k.path),
        # the dbt tests of the rebuilt models (the others were tested when they were built)
        asset_check_keys=sorted(
            dbt_code.dbt_test_check_keys(assets), key=lambda k: (k.asset_key.path, k.name)
        ),
        tags={CONFIG_HASH_TAG: metrics.content_hash},
    )
