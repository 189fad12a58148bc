"""The jobs: what a run materializes (the run queue lets one run of this code location at a
time write the state, see orchestration/instance.py)."""

import dagster as dg

from orchestration import dbt_code
from orchestration.keys import (
    APPLY_CONFIG_JOB,
    BUILD_JOB,
    METRICS_CONFIGURATION,
    PUBLISHED_WAREHOUSE,
    RAW_EVENTS,
    RAW_REJECTED_LINES,
    REFRESH_JOB,
)

_DBT_MODELS = dg.AssetSelection.assets(*dbt_code.model_asset_keys())

refresh_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.assets(RAW_EVENTS, RAW_REJECTED_LINES, PUBLISHED_WAREHOUSE)
    | _DBT_MODELS,
    description="Ingest the selected delivery days (a partition or a range: a backfill), check "
    "them, dbt build with its tests, publish atomically if nothing blocked.",
)
build_job = dg.define_asset_job(
    BUILD_JOB,
    selection=_DBT_MODELS
    | dg.AssetSelection.assets(PUBLISHED_WAREHOUSE)
    | dg.AssetSelection.checks_for_assets(RAW_EVENTS),
    description="dbt build over the raw layer as it is, the checks, then the publish (after a "
    "configuration change, or to retry a refused publish).",
)
apply_config_job = dg.define_asset_job(
    APPLY_CONFIG_JOB,
    selection=dg.AssetSelection.assets(METRICS_CONFIGURATION),
    description="Apply a configuration edit typed in the launchpad: check it, write it, record "
    "a version. config_sensor then rebuilds the assets it touches and publishes.",
)
