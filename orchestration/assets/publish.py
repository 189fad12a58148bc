"""The published warehouse: what Superset and analysts read."""

import datetime as dt
import json

import dagster as dg

from ingest.raw_layer import raw_layer_digest
from orchestration.assets.dbt import dbt_models
from orchestration.build_definition import built_definition
from orchestration.publish import publish
from orchestration.resources import PipelineResource
from orchestration.settings import PUBLISHED_SCHEMAS

PUBLISHED_WAREHOUSE = dg.AssetKey(["warehouse", "published"])


@dg.asset(
    key=PUBLISHED_WAREHOUSE,
    deps=[key for key in dbt_models.keys if key.path[0] in PUBLISHED_SCHEMAS],
    group_name="publish",
    description="The warehouse file: marts and audit schemas copied from the build database "
    "and swapped in atomically after dbt build and its tests passed.",
)
def published_warehouse(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    paths, config = pipeline.paths, pipeline.metrics_config()
    definition = built_definition(paths)  # what dbt recorded for the build being published
    stamp = {
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config_hash": config.content_hash,
        "definition_hash": definition,
        "raw_digest": raw_layer_digest(paths.raw),
        "dagster_run_id": context.run.run_id,
    }
    result = publish(paths.build_db, paths.warehouse, PUBLISHED_SCHEMAS, stamp)
    paths.publish_record.write_text(json.dumps(stamp, indent=2))
    context.log.info(f"published {paths.warehouse} ({result.size_bytes / 1e6:.1f} MB)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.warehouse)),
            "size_mb": dg.MetadataValue.float(round(result.size_bytes / 1e6, 2)),
            "tables": dg.MetadataValue.json(result.tables),
            "config_hash": dg.MetadataValue.text(config.content_hash),
            "definition_hash": dg.MetadataValue.text(str(definition)),
        }
    )
