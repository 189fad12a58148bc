"""Ingest: landing NDJSON files -> validated raw layer (Parquet per delivery day)."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from ingest.landing import is_delivery_day
from ingest.raw_layer import DayResult, ingest_day
from orchestration.keys import RAW_EVENTS, RAW_REJECTED_LINES
from orchestration.partitions import delivery_days
from orchestration.quality import preload
from orchestration.quality.gate import quality_table
from orchestration.resources import PipelineResource


class RawLayerConfig(dg.Config):
    force: bool = Field(
        default=False,
        description="Re-read the landing files of every selected day, even unchanged ones "
        "(a backfill). The result is the same raw layer: re-running a day changes nothing.",
    )


def _summary(results: list[DayResult]) -> dict[str, dg.MetadataValue]:
    table = (
        "| delivery day | files | unreadable files | lines | accepted | rejected | duplicates "
        "| skipped |\n|---|---|---|---|---|---|---|---|\n"
    )
    table += "\n".join(
        f"| {r.delivery_date} | {r.files} | {r.rejected_files} | {r.lines} | {r.accepted} "
        f"| {r.rejected} | {r.duplicates} | {'yes' if r.skipped else 'no'} |"
        for r in results
    )
    return {
        "days_ingested": dg.MetadataValue.int(sum(not r.skipped for r in results)),
        "lines": dg.MetadataValue.int(sum(r.lines for r in results)),
        "accepted": dg.MetadataValue.int(sum(r.accepted for r in results)),
        "rejected": dg.MetadataValue.int(sum(r.rejected for r in results)),
        "unreadable_files": dg.MetadataValue.int(sum(r.rejected_files for r in results)),
        "duplicates_in_day": dg.MetadataValue.int(sum(r.duplicates for r in results)),
        "per_day": dg.MetadataValue.md(table),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            RAW_EVENTS,
            description="Accepted events, validated against the contract, "
            "de-duplicated within each delivery day (Parquet in the state folder).",
        ),
        dg.AssetSpec(
            RAW_REJECTED_LINES,
            description="Landing lines that broke the contract, "
            "with file, line number, reason and raw text.",
        ),
    ],
    partitions_def=delivery_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
)
def raw_layer(
    context: dg.AssetExecutionContext, pipeline: PipelineResource, config: RawLayerConfig
):
    """Read each delivery day's landing files; a day whose files did not change is skipped
    unless `force` (a backfill re-reads every day of its range)."""
    preload.start()  # the checks run next, in this process
    with pipeline.writer_lock(context.log.info) as paths:
        results = _ingest(context, pipeline, paths.raw, force=config.force)
    metadata = _summary(results)
    yield dg.MaterializeResult(asset_key=RAW_EVENTS, metadata=metadata)
    yield dg.MaterializeResult(
        asset_key=RAW_REJECTED_LINES, metadata={"rejected": metadata["rejected"]}
    )


def _ingest(
    context: dg.AssetExecutionContext, pipeline: PipelineResource, raw: Path, force: bool
) -> list[DayResult]:
    results, landing, absent = [], pipeline.landing, []
    for day in context.partition_keys:
        if not (is_delivery_day(day) and (landing / day).is_dir()):
            absent.append(day)
            continue
        result = ingest_day(
            landing,
            day,
            raw,
            force=force,
            settle_seconds=pipeline.settle_seconds,
            log=context.log.debug,
        )
        notes = [
            *([f"{result.rejected_files} unreadable file(s)"] if result.rejected_files else []),
            *([f"{result.still_landing} still landing"] if result.still_landing else []),
            *(["unchanged, skipped"] if result.skipped else []),
        ]
        log = context.log.warning if result.rejected_files else context.log.info
        log(
            f"{day}: {result.accepted:,} accepted, {result.rejected:,} rejected, "
            f"{result.duplicates:,} duplicates" + (f" ({'; '.join(notes)})" if notes else "")
        )
        results.append(result)
    if absent:  # one line: a backfill's range can hold years of days
        span = absent[0] if len(absent) == 1 else f"{absent[0]} .. {absent[-1]}"
        context.log.info(
            f"no landing folder in {landing} for {len(absent):,} day(s) of the run ({span}): "
            "nothing to ingest for them"
        )
    return results


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "delivery_days_pass_quality_suite",
            asset=RAW_EVENTS,
            blocking=True,
            description="Great Expectations suite on every ingested delivery day: columns and "
            "types, accepted event types, event_id unique after de-duplication, timestamp "
            "sanity, share of rejected lines at most the configured maximum. A failing day "
            "blocks the build and the publish until it is re-delivered (or the maximum raised).",
        )
    ],
)
def raw_quality(context: dg.AssetCheckExecutionContext, pipeline: PipelineResource):
    # Great Expectations takes ~6 s to import: only the steps that validate load it
    from orchestration.quality.raw_days import check_days

    with pipeline.writer_lock(context.log.info) as paths:
        qualities, validated, docs = check_days(paths, pipeline.max_reject_ratio, context.log.info)
    failing = [q for q in qualities if not q.passed]
    shown = [q for q in qualities if q.delivery_date in validated or not q.passed]
    metadata: dict[str, dg.MetadataValue] = {
        "days": dg.MetadataValue.int(len(qualities)),
        "days_validated_now": dg.MetadataValue.int(len(validated)),
        "failing_days": dg.MetadataValue.json([q.delivery_date for q in failing]),
        "max_reject_ratio": dg.MetadataValue.float(pipeline.max_reject_ratio),
        "per_day": dg.MetadataValue.md(quality_table(shown)),
    }
    docs = docs or (paths.data_docs if paths.data_docs.exists() else None)
    if docs:
        metadata["data_docs"] = dg.MetadataValue.path(str(docs))
    yield dg.AssetCheckResult(
        check_name="delivery_days_pass_quality_suite",
        asset_key=RAW_EVENTS,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=(
            f"{len(failing)} delivery day(s) failed, first {failing[0].delivery_date}: "
            f"{failing[0].failures[0]}"
            if failing
            else None
        ),
    )
