"""dbt models as Dagster assets; dbt tests surface as asset checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from ingest.raw_layer import raw_layer_digest
from orchestration.build_definition import (
    definition_hash,
    full_refresh_reason,
    mark_build_started,
    record_build,
)
from orchestration.config_history import record_version
from orchestration.resources import PipelineResource
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*")]
    sources += [DBT_PROJECT_DIR / "dbt_project.yml"]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


if _manifest_is_stale(dbt_project):
    # dagster-dbt's default preparer looks for `dbt` on PATH; ours is the one in this venv.
    DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE).cli(
        ["parse", "--quiet"], target_path=dbt_project.target_path
    ).wait()


class MetricsDbtTranslator(DagsterDbtTranslator):
    """Asset keys follow the warehouse: sources `raw/<table>`, models `<schema>/<model>`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["config"].get("schema") or "dbt"


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild incremental models from the whole raw layer. Happens by itself "
        "when the metrics configuration or the dbt code changed since the last build.",
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=MetricsDbtTranslator(),
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    pipeline: PipelineResource,
    config: DbtBuildConfig,
):
    """`dbt build` into the build database in the state folder, with the configured rules.

    Incremental by default; a full refresh when asked, when the definition (configuration +
    dbt code) differs from the one the build database was built with, when the previous build
    did not finish (a killed run), or when redelivered copies moved an event to another
    conversation or visitor (see build_definition.py).
    """
    metrics = pipeline.metrics_config()
    definition = definition_hash(metrics)
    with pipeline.writer_lock(context.log.info) as paths:
        versions = record_version(
            paths, metrics, context.run_id, pipeline.config_path or "(defaults)"
        )
        args = [
            "build",
            "--vars",
            json.dumps(
                {"state_dir": str(paths.state), **metrics.dbt_vars(), "config_versions": versions}
            ),
            # unit tests check the SQL, not the data: they run in the test suite (test_dbt.py)
            "--exclude-resource-type",
            "unit_test",
        ]
        reason = full_refresh_reason(paths, definition, asked=config.full_refresh)
        if reason:
            context.log.info(f"dbt build --full-refresh: {reason}")
            args.append("--full-refresh")
        raw_digest = raw_layer_digest(paths.raw)  # ingest waits for the lock: fixed until done
        mark_build_started(paths)
        # dbt's artifacts per warehouse, in its state folder (not one folder per run in the repo)
        yield from dbt.cli(args, context=context, target_path=paths.state / "dbt-target").stream()
        record_build(paths, definition, raw_digest, build_id=context.run.run_id)
