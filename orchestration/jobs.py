"""The jobs: what a run materializes (the run queue lets one run of this code location at a
time write the state, see orchestration/instance.py)."""

import dagster as dg

from orchestration.assets.config import metrics_configuration
from orchestration.assets.dbt import dbt_models
from orchestration.assets.ingest import raw_layer, raw_quality
from orchestration.assets.publish import published_warehouse

# a run over a range of delivery days (one run, BackfillPolicy.single_run); the job is
# partitioned by delivery day through raw_layer
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.assets(raw_layer, dbt_models, published_warehouse),
    description="Ingest the selected delivery days (a partition or a range: a backfill), check "
    "them, dbt build with its tests, check the marts, publish atomically if nothing blocked.",
)
build_job = dg.define_asset_job(
    "build_job",
    selection=dg.AssetSelection.assets(dbt_models, published_warehouse)
    | dg.AssetSelection.checks(raw_quality),
    description="dbt build over the raw layer as it is, the checks, then the publish (after a "
    "configuration change, or to retry a refused publish).",
)
apply_config_job = dg.define_asset_job(
    "apply_config_job",
    selection=dg.AssetSelection.assets(metrics_configuration),
    description="Apply a configuration edit typed in the launchpad: check it, write it, record "
    "a version. config_sensor then rebuilds the assets it touches and publishes.",
)
