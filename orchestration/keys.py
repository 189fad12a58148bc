"""Names the assets, jobs, sensors and the CLI share: asset keys, job names and run tags.
Defined here so that none of them imports another to learn a name."""

import dagster as dg

RAW_EVENTS = dg.AssetKey(["raw", "events"])
RAW_REJECTED_LINES = dg.AssetKey(["raw", "rejected_lines"])
PUBLISHED_WAREHOUSE = dg.AssetKey(["warehouse", "published"])
METRICS_CONFIGURATION = dg.AssetKey(["config", "metrics_configuration"])

REFRESH_JOB, BUILD_JOB, APPLY_CONFIG_JOB = "refresh_job", "build_job", "apply_config_job"

# a run over a range of delivery days (one run, BackfillPolicy.single_run)
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
CLI_PROCESS_TAG = "servisbot-metrics/cli-process"  # in-process runs: host:pid:start time
CONFIG_HASH_TAG = "servisbot-metrics/config_hash"  # the configuration a rebuild applies
