"""The one Dagster code location: ingest -> checks -> dbt build (models and their tests) ->
publish, run by a sensor on the landing folder, a daily schedule, the UI (partitions,
backfills) or the CLI."""

from __future__ import annotations

import dagster as dg

from orchestration import dbt_code
from orchestration.assets.config import metrics_configuration
from orchestration.assets.dbt import dbt_models
from orchestration.assets.ingest import raw_layer, raw_quality
from orchestration.assets.publish import published_warehouse
from orchestration.automation import config_sensor, daily_refresh, landing_sensor
from orchestration.jobs import apply_config_job, build_job, refresh_job
from orchestration.resources import PipelineResource


def build_definitions(pipeline: PipelineResource) -> dg.Definitions:
    return dg.Definitions(
        assets=[metrics_configuration, raw_layer, dbt_models, published_warehouse],
        asset_checks=[raw_quality],
        jobs=[refresh_job, build_job, apply_config_job],
        sensors=[landing_sensor, config_sensor],
        schedules=[daily_refresh],
        # A launched run executes its steps one after another in its run worker, as a CLI run
        # does: the steps follow each other anyway (ingest, checks, dbt, publish), and a
        # process per step would start Python, Dagster and these definitions again for each.
        executor=dg.in_process_executor,
        resources={
            "pipeline": pipeline,
            "dbt": dbt_code.dbt_cli(pipeline.engine),
        },
    )


defs = build_definitions(PipelineResource.from_env())
