"""The published warehouse: what Superset and analysts read."""

import datetime as dt
import json
import os
from collections.abc import Iterator

import dagster as dg

from orchestration.assets.dbt import dbt_models
from orchestration.build_definition import build_record
from orchestration.config_history import version_with_hash
from orchestration.metrics_config import vars_hash
from orchestration.publish import PublishError, publish
from orchestration.quality.gate import gate_failures, mart_gate_failure, suite_version
from orchestration.resources import PipelineResource
from orchestration.settings import PUBLISHED_SCHEMAS

PUBLISHED_WAREHOUSE = dg.AssetKey(["warehouse", "published"])


@dg.asset(
    key=PUBLISHED_WAREHOUSE,
    deps=[key for key in dbt_models.keys if key.path[0] in PUBLISHED_SCHEMAS],
    group_name="publish",
    description="The warehouse file: marts and audit schemas copied from the build database "
    "and swapped in atomically, only after dbt build, its tests and the blocking data-quality "
    "checks passed and every ingested delivery day passed its suite.",
    output_required=False,  # not materialized when another run's newer build superseded ours
)
def published_warehouse(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> Iterator[dg.MaterializeResult]:
    with pipeline.writer_lock(context.log.info) as paths:
        build = build_record(paths)
        if newer := _superseding_run(context, build):
            context.log.info(
                f"not publishing: run {newer} rebuilt the marts after this run built them "
                "(runs take turns step by step); that run checks and publishes its build"
            )
            return
        blocked = gate_failures(paths, pipeline.max_reject_ratio)
        blocked += [reason] if (reason := mart_gate_failure(paths, build)) else []
        if blocked:
            raise PublishError(
                f"not published: {blocked[0]}"
                + (f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else "")
            )
        # the configuration the build was made with (the file may have changed since)
        config_hash = vars_hash(build["config_vars"]) if "config_vars" in build else ""
        version = version_with_hash(paths, config_hash) or {}
        stamp = {
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "config_hash": config_hash,
            "config_version": str(version.get("version", "")),
            # what dbt recorded for the build being published
            "definition_hash": str(build["definition_hash"]),
            "raw_digest": str(build["raw_digest"]),
            "build_id": str(build["build_id"]),
            "quality_gate": suite_version(pipeline.max_reject_ratio),
            "dagster_run_id": context.run.run_id,
        }
        result = publish(paths.build_db, paths.warehouse, PUBLISHED_SCHEMAS, stamp)
        tmp = paths.publish_record.with_name(f".{paths.publish_record.name}.tmp")
        tmp.write_text(json.dumps(stamp, indent=2))
        os.replace(tmp, paths.publish_record)
    context.log.info(f"published {paths.warehouse} ({result.size_bytes / 1e6:.1f} MB)")
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.warehouse)),
            "size_mb": dg.MetadataValue.float(round(result.size_bytes / 1e6, 2)),
            "published_at": dg.MetadataValue.text(stamp["published_at"]),
            "tables": dg.MetadataValue.json(result.tables),
            "config_hash": dg.MetadataValue.text(stamp["config_hash"]),
            "config_version": dg.MetadataValue.text(stamp["config_version"]),
            "definition_hash": dg.MetadataValue.text(stamp["definition_hash"]),
        }
    )


def _superseding_run(context: dg.AssetExecutionContext, build: dict) -> str | None:
    """The run whose finished dbt build replaced the one this run made, if any. A run's steps
    take the writer lock one at a time, so another run's dbt step can come between this run's
    dbt step and its publish; that run checks its own build and publishes it. A run whose dbt
    step did not execute (publish alone, a re-execution of a failed publish) made no build."""
    run = context.run
    if not build.get("build_id") or build.get("in_progress") or build["build_id"] == run.run_id:
        return None
    steps, selected = run.step_keys_to_execute, run.asset_selection
    built_here = (steps is None or dbt_models.op.name in steps) and (
        selected is None or not selected.isdisjoint(dbt_models.keys)
    )
    return str(build["build_id"]) if built_here else None
