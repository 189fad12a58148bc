"""dbt models as Dagster assets; dbt tests surface as asset checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from ingest.raw_layer import raw_layer_digest
from orchestration.build_definition import (
    build_record,
    dbt_code_hash,
    definition_hash,
    full_refresh_reason,
    mark_build_started,
    record_build,
)
from orchestration.config_history import record_version
from orchestration.config_impact import affected_models, changed_vars
from orchestration.metrics_config import MetricsConfig
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
    with pipeline.writer_lock(context.log.info) as paths:
        # read under the lock: an apply_config_job run may have just written a new version
        metrics, code_hash = pipeline.metrics_config(), dbt_code_hash()
        definition = definition_hash(metrics, code_hash)
        previous = build_record(paths)
        if context.is_subset:
            _refuse_part_of_a_config_change(context, previous, metrics, code_hash)
        source = str(pipeline.config_file) if pipeline.config_file.exists() else "(defaults)"
        versions = record_version(paths, metrics, context.run_id, source)
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
        # ingest waits for the lock: fixed until done. A partial build (a configuration change)
        # did not bring new raw data through every model: it keeps the previous digest.
        raw_digest = (
            previous["raw_digest"]
            if context.is_subset and "raw_digest" in previous
            else raw_layer_digest(paths.raw)
        )
        mark_build_started(paths)
        # dbt's artifacts per warehouse, in its state folder (not one folder per run in the repo)
        yield from dbt.cli(args, context=context, target_path=paths.state / "dbt-target").stream()
        record_build(paths, metrics, code_hash, raw_digest, build_id=context.run.run_id)


def config_change_assets(
    previous_build: dict, metrics: MetricsConfig, code_hash: str
) -> set[dg.AssetKey]:
    """The dbt assets that must be rebuilt for `metrics` and the dbt code `code_hash` over the
    build recorded in `previous_build`: those reading a changed var (or its history) and all
    downstream. Every dbt asset when the dbt code changed, the build recorded no configuration
    or did not finish."""
    if previous_build.get("in_progress"):  # a half-applied build: all of it is rebuilt
        return set(dbt_models.keys)
    if previous_build.get("definition_hash") == definition_hash(metrics, code_hash):
        return set()
    old_vars = previous_build.get("config_vars")
    if old_vars is None or previous_build.get("code_hash") != code_hash:
        return set(dbt_models.keys)
    manifest = json.loads(dbt_project.manifest_path.read_text())
    changed = changed_vars(old_vars, metrics.dbt_vars()) | {"config_versions"}
    translator = MetricsDbtTranslator()
    return {
        translator.get_asset_key(manifest["nodes"][uid])
        for uid in affected_models(manifest, changed)
    }


def _refuse_part_of_a_config_change(
    context: dg.AssetExecutionContext, previous_build: dict, metrics: MetricsConfig, code_hash: str
) -> None:
    """A partial build after a configuration change must rebuild everything the change
    touches, or the marts would mix two configurations."""
    changed = config_change_assets(previous_build, metrics, code_hash)
    missing = changed - set(context.selected_asset_keys)
    if missing:
        names = sorted(key.to_user_string() for key in missing)
        raise dg.Failure(
            f"the metrics configuration changed since the last build and {len(names)} asset(s) "
            f"that depend on it are not selected: {', '.join(names[:8])}"
            + (" ..." if len(names) > 8 else "")
            + ". Run build_job, or let config_sensor request the rebuild."
        )
