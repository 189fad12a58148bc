"""What makes the pipeline run by itself: a sensor on the landing folder and a daily schedule."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import dagster as dg

from ingest.landing import delivery_days
from ingest.raw_layer import pending_days, still_landing
from orchestration.assets.dbt import config_change_assets, dbt_models
from orchestration.assets.mart_checks import mart_quality
from orchestration.assets.publish import PUBLISHED_WAREHOUSE
from orchestration.build_definition import build_record, dbt_code_hash
from orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG, build_job, refresh_job
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
    job=refresh_job,
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
    requested: dict[str, list] = json.loads(context.cursor or "{}")
    now = time.time()
    pending = pending_days(pipeline.landing, days, pipeline.paths.raw, pipeline.settle_seconds)
    settled = [p for p in pending if now - p.newest_mtime_ns / 1e9 >= LANDING_SETTLE_SECONDS]
    due = [
        p
        for p in settled
        if not (
            p.delivery_date in requested
            and requested[p.delivery_date][0] == p.fingerprint
            and now - requested[p.delivery_date][1] < RETRY_SECONDS
        )
    ]
    still_pending = {p.delivery_date for p in pending}
    cursor = {d: v for d, v in requested.items() if d in still_pending}
    cursor.update({p.delivery_date: [p.fingerprint, now] for p in due})
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    if not due:
        writing = still_landing(pipeline.landing, days, pipeline.settle_seconds)
        landing = len(
            {p.delivery_date for p in pending if p not in settled}
            | {f.split("/")[0] for f in writing}
        )
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
    job=refresh_job,
    cron_schedule=DAILY_SCHEDULE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day: yesterday's delivery day (late files included), then the marts "
    "and the publish, so the warehouse is rebuilt at least daily.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


CONFIG_HASH_TAG = "servisbot-metrics/config_hash"


@dg.sensor(
    job=build_job,
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
    build = build_record(pipeline.paths)
    if not build:
        return dg.SkipReason("no build yet: the first build uses the configuration in effect")
    if build.get("in_progress"):
        return dg.SkipReason(
            "a build is running or did not finish: the next full build (refresh_job, build_job, "
            "`servisbot-metrics run`) applies the configuration in effect"
        )
    assets = config_change_assets(build, metrics, dbt_code_hash())
    if not assets:
        return dg.SkipReason("the marts are built with the configuration in effect")
    now = time.time()
    requested = json.loads(context.cursor or "{}")
    if requested.get("hash") == metrics.content_hash and now - requested["at"] < RETRY_SECONDS:
        return dg.SkipReason(f"rebuild for configuration {metrics.content_hash} requested")
    context.update_cursor(json.dumps({"hash": metrics.content_hash, "at": now}))
    return dg.RunRequest(
        run_key=f"config:{metrics.content_hash}:{int(now)}",
        asset_selection=sorted(assets | {PUBLISHED_WAREHOUSE}, key=lambda k: k.path),
        asset_check_keys=config_rebuild_checks(assets),
        tags={CONFIG_HASH_TAG: metrics.content_hash},
    )


def config_rebuild_checks(assets: set[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The dbt tests of the rebuilt models, and every mart suite: the publish needs the whole
    build checked, also when the change touched none of the marts the suites are on."""
    keys = [key for key in dbt_models.check_keys if key.asset_key in assets]
    return sorted([*keys, *mart_quality.check_keys], key=lambda k: (k.asset_key.path, k.name))
