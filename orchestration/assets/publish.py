"""The published warehouse: what Superset and analysts read."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from ingest.raw_layer import raw_layer_digest
from orchestration import dbt_code, planner, state
from orchestration.config_history import version_with_hash
from orchestration.keys import PUBLISHED_WAREHOUSE
from orchestration.metrics_config import vars_hash
from orchestration.publish import PublishError, publish
from orchestration.quality.gate import day_gates, suite_version
from orchestration.resources import PipelineResource
from orchestration.settings import PUBLISHED_SCHEMAS


@dg.asset(
    key=PUBLISHED_WAREHOUSE,
    deps=sorted(dbt_code.model_asset_keys(schemas=PUBLISHED_SCHEMAS), key=lambda k: k.path),
    group_name="publish",
    description="The warehouse file: marts and audit schemas from the build database (fact "
    "tables as date-partitioned Parquet, only changed days rewritten; the rest copied) swapped "
    "in atomically, only after dbt build and its tests passed and every ingested delivery day "
    "passed its data-quality suite.",
    output_required=False,  # not materialized when another run's newer build superseded ours
)
def published_warehouse(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> Iterator[dg.MaterializeResult]:
    with pipeline.writer_lock(context.log.info) as paths:
        build, built_here = state.read_build(paths), _built_here(context)
        if newer := planner.superseding_build(build, context.run.run_id, built_here):
            context.log.info(
                f"not publishing: run {newer} rebuilt the marts after this run built them "
                "(runs take turns step by step); that run checks and publishes its build"
            )
            return
        quality_gate, gates = suite_version(pipeline.max_reject_ratio), day_gates(paths)
        blocked = planner.publish_refusals(build, gates, quality_gate)
        if blocked and planner.ingested_since_own_build(
            build,
            context.run.run_id,
            built_here,
            raw_layer_digest(paths.raw),
            gates,
            quality_gate,
        ):
            context.log.info(
                f"not publishing: {blocked[0]}, ingested by another run after this run built "
                "the marts (runs take turns step by step); that run checks, builds and "
                "publishes it"
            )
            return
        if blocked:
            raise PublishError(
                f"not published: {blocked[0]}"
                + (f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else "")
            )
        # the configuration the build was made with (the file may have changed since)
        config_hash = vars_hash(build.config_vars) if build.config_vars is not None else ""
        version = version_with_hash(paths, config_hash)
        stamp = state.PublishStamp(
            published_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            config_hash=config_hash,
            config_version=str(version["version"]) if version else "",
            definition_hash=build.definition_hash,
            raw_digest=build.raw_digest,
            build_id=build.build_id,
            quality_gate=quality_gate,
            dagster_run_id=context.run.run_id,
            engine=pipeline.engine,
        )
        tables: dict[str, list[str]] = {}
        for key in dbt_code.model_asset_keys(schemas=PUBLISHED_SCHEMAS):
            tables.setdefault(key.path[0], []).append(key.path[1])
        build_db = pipeline.build_engine.build_database(paths, tables)
        result = publish(build_db, paths.warehouse, PUBLISHED_SCHEMAS, stamp)
    context.log.info(
        f"published {paths.warehouse} ({result.size_bytes / 1e6:.1f} MB), data version "
        f"{result.version}: {result.written} partition(s) written, {result.linked} unchanged"
    )
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.warehouse)),
            "size_mb": dg.MetadataValue.float(round(result.size_bytes / 1e6, 2)),
            "published_at": dg.MetadataValue.text(stamp.published_at),
            "tables": dg.MetadataValue.json(result.tables),
            "data_version": dg.MetadataValue.int(result.version),
            "partitions_written": dg.MetadataValue.int(result.written),
            "partitions_linked": dg.MetadataValue.int(result.linked),
            "config_hash": dg.MetadataValue.text(stamp.config_hash),
            "config_version": dg.MetadataValue.text(stamp.config_version),
            "definition_hash": dg.MetadataValue.text(stamp.definition_hash),
        }
    )


def _built_here(context: dg.AssetExecutionContext) -> bool:
    """Whether this run executed the dbt step (a re-execution of a failed publish did not)."""
    run = context.run
    steps, selected = run.step_keys_to_execute, run.asset_selection
    dbt_keys = dbt_code.model_asset_keys()
    return (steps is None or dbt_code.DBT_ASSETS_OP in steps) and (
        selected is None or not selected.isdisjoint(dbt_keys)
    )
