"""dbt models as Dagster assets; dbt tests surface as asset checks."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_dbt import DagsterDbtCliRuntimeError, DbtCliResource, dbt_assets
from pydantic import Field

from ingest.raw_layer import ingested_days, raw_layer_digest
from orchestration import dbt_code, planner, state
from orchestration.config_history import record_version
from orchestration.conflicting_copies import conflicting_copies
from orchestration.resources import PipelineResource


@contextmanager
def _vars_not_logged(vars_text: str, where: str) -> Iterator[None]:
    """dagster-dbt logs the dbt command line, and ours carries the whole configuration and its
    history as --vars (kilobytes): the log names them and says where dbt records them."""

    placeholder = f"<{len(vars_text):,} bytes: see {where}>"

    def shorten(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if vars_text in message:
            record.msg, record.args = message.replace(vars_text, placeholder), ()
        return True

    logger = dg.get_dagster_logger()
    logger.addFilter(shorten)
    try:
        yield
    except DagsterDbtCliRuntimeError as exc:  # its description quotes the command line too
        shortened = DagsterDbtCliRuntimeError(
            description=(exc.description or "").replace(vars_text, placeholder),
            metadata=exc.metadata,
        )
        raise shortened.with_traceback(exc.__traceback__) from None
    finally:
        logger.removeFilter(shorten)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild incremental models from the whole raw layer. Happens by itself "
        "when the metrics configuration or the dbt code changed since the last build.",
    )


@dbt_assets(
    manifest=dbt_code.dbt_project.manifest_path,
    dagster_dbt_translator=dbt_code.TRANSLATOR,
    name=dbt_code.DBT_ASSETS_OP,
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    pipeline: PipelineResource,
    config: DbtBuildConfig,
):
    """`dbt build` into the build database in the state folder, with the configured rules.

    Incremental unless the planner decides a full refresh (planner.full_refresh_reason). The
    build is recorded as finished only when every model and test passed.
    """
    with pipeline.writer_lock(context.log.info) as paths:
        # read under the lock: an apply_config_job run may have just written a new version
        metrics, code_hash = pipeline.metrics_config(), dbt_code.code_hash()
        engine = pipeline.build_engine
        definition = planner.definition_hash(metrics.content_hash, code_hash, engine.name)
        previous = state.read_build(paths)
        if refusal := planner.empty_build_refusal(ingested_days(paths.raw)):
            raise dg.Failure(refusal)
        if context.is_subset:
            changed = planner.config_change_models(
                previous, definition, code_hash, metrics.dbt_vars(), dbt_code.manifest()
            )
            refusal = planner.partial_build_refusal(
                (k.to_user_string() for k in dbt_code.model_asset_keys(changed)),
                (k.to_user_string() for k in context.selected_asset_keys),
            )
            if refusal:
                raise dg.Failure(refusal)
        source = str(pipeline.config_file) if pipeline.config_file.exists() else "(defaults)"
        versions = record_version(paths, metrics, context.run.run_id, source)
        dbt_vars = json.dumps(
            {"state_dir": str(paths.state), **metrics.dbt_vars(), "config_versions": versions}
        )
        args = [
            "build",
            "--target",
            engine.name,
            "--vars",
            dbt_vars,
            # unit tests check the SQL, not the data: they run in the test suite (test_dbt.py)
            "--exclude-resource-type",
            "unit_test",
        ]
        reason = planner.full_refresh_reason(
            previous,
            definition,
            config.full_refresh,
            lambda: conflicting_copies(paths),
            engine_rebuilds_whole=engine.rebuilds_whole,
        )
        if reason:
            context.log.info(f"dbt build --full-refresh: {reason}")
            args.append("--full-refresh")
        # ingest waits for the lock: fixed until done. A partial build (a configuration change)
        # did not bring new raw data through every model: it keeps the previous digest.
        raw_digest_now = raw_layer_digest(paths.raw)
        raw_digest = (
            previous.raw_digest
            if context.is_subset and previous and previous.raw_digest
            else raw_digest_now
        )
        selected = set(context.selected_asset_keys)
        state.mark_build_started(paths)
        engine.prepare(paths)
        with _vars_not_logged(dbt_vars, f"args.vars in {paths.dbt_target / 'run_results.json'}"):
            yield from dbt.cli(args, context=context, target_path=paths.dbt_target).stream()
        state.write_build(
            paths,
            state.BuildRecord(
                definition_hash=definition,
                code_hash=code_hash,
                config_vars=metrics.dbt_vars(),
                raw_digest=raw_digest,
                raw_digest_at_build=raw_digest_now,
                build_id=context.run.run_id,
                engine=engine.name,
                untested=planner.untested_after_build(
                    previous,
                    context.is_subset,
                    {k.to_user_string() for k in dbt_code.dbt_test_check_keys(selected)},
                    {k.to_user_string() for k in context.selected_asset_check_keys},
                ),
            ),
        )
