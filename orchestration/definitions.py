"""The one Dagster code location: ingest -> dbt -> publish."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets.dbt import dbt_models, dbt_project
from orchestration.assets.ingest import raw_layer
from orchestration.assets.publish import published_warehouse
from orchestration.resources import PipelineResource
from orchestration.settings import DBT_EXECUTABLE

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(raw_layer),
    description="Validate landing files of the selected delivery days into the raw layer.",
)
build_job = dg.define_asset_job(
    "build_job",
    selection=dg.AssetSelection.assets(dbt_models, published_warehouse),
    description="dbt build over the raw layer, then publish the warehouse atomically.",
)


def build_definitions(pipeline: PipelineResource) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_layer, dbt_models, published_warehouse],
        jobs=[ingest_job, build_job],
        resources={
            "pipeline": pipeline,
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        },
    )


defs = build_definitions(PipelineResource.from_env())
