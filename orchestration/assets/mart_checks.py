"""Great Expectations on the marts as Dagster asset checks, between dbt build and publish."""

import dagster as dg

from orchestration.build_definition import build_record
from orchestration.quality.gate import record_mart_checks
from orchestration.quality.mart_specs import MART_SUITES
from orchestration.resources import PipelineResource


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            suite.name,
            asset=dg.AssetKey(["marts", suite.table]),
            blocking=suite.blocking,
            description=f"Great Expectations suite {suite.name} on the build database"
            + (" (blocks the publish)." if suite.blocking else " (warns only)."),
        )
        for suite in MART_SUITES
    ],
    # a partial rebuild (a configuration change) may select some of the marts: every suite
    # still runs, since the publish needs the whole build checked; only selected ones report
    can_subset=True,
)
def mart_quality(context: dg.AssetCheckExecutionContext, pipeline: PipelineResource):
    # Great Expectations takes ~6 s to import: only the steps that validate load it
    from orchestration.quality.marts import check_marts

    with pipeline.writer_lock(context.log.info) as paths:
        build = build_record(paths)
        outcomes, docs = check_marts(paths.state, paths.build_db, batch=context.run.run_id)
        passed = all(o.passed for s, o in zip(MART_SUITES, outcomes, strict=True) if s.blocking)
        record_mart_checks(paths, build, passed)  # the publish step compares it
    selected = context.selected_asset_check_keys
    for suite, outcome in zip(MART_SUITES, outcomes, strict=True):
        key = dg.AssetCheckKey(dg.AssetKey(["marts", suite.table]), suite.name)
        if key not in selected:
            continue
        yield dg.AssetCheckResult(
            check_name=key.name,
            asset_key=key.asset_key,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR if suite.blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "expectations": dg.MetadataValue.md(outcome.markdown()),
                "data_docs": dg.MetadataValue.path(str(docs)),
            },
            description="; ".join(outcome.failures) or None,
        )
