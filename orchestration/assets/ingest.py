"""Ingest: landing NDJSON files -> validated raw layer (Parquet per delivery day)."""

import dagster as dg

from ingest.landing import is_delivery_day
from ingest.raw_layer import DayResult, ingest_day
from orchestration.partitions import delivery_days
from orchestration.resources import PipelineResource

RAW_EVENTS = dg.AssetKey(["raw", "events"])
RAW_REJECTED_LINES = dg.AssetKey(["raw", "rejected_lines"])


def _summary(results: list[DayResult]) -> dict[str, dg.MetadataValue]:
    table = "| delivery day | files | lines | accepted | rejected | duplicates | skipped |\n"
    table += "|---|---|---|---|---|---|---|\n"
    table += "\n".join(
        f"| {r.delivery_date} | {r.files} | {r.lines} | {r.accepted} | {r.rejected} "
        f"| {r.duplicates} | {'yes' if r.skipped else 'no'} |"
        for r in results
    )
    return {
        "days_ingested": dg.MetadataValue.int(sum(not r.skipped for r in results)),
        "lines": dg.MetadataValue.int(sum(r.lines for r in results)),
        "accepted": dg.MetadataValue.int(sum(r.accepted for r in results)),
        "rejected": dg.MetadataValue.int(sum(r.rejected for r in results)),
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
def raw_layer(context: dg.AssetExecutionContext, pipeline: PipelineResource):
    """Read each delivery day's landing files; a day whose files did not change is skipped."""
    landing, raw = pipeline.landing, pipeline.paths.raw
    results = []
    for day in context.partition_keys:
        if not (is_delivery_day(day) and (landing / day).is_dir()):
            continue
        result = ingest_day(landing, day, raw, log=context.log.debug)
        skipped = " (unchanged, skipped)" if result.skipped else ""
        context.log.info(
            f"{day}: {result.accepted:,} accepted, {result.rejected:,} rejected, "
            f"{result.duplicates:,} duplicates{skipped}"
        )
        results.append(result)
    metadata = _summary(results)
    yield dg.MaterializeResult(asset_key=RAW_EVENTS, metadata=metadata)
    yield dg.MaterializeResult(
        asset_key=RAW_REJECTED_LINES, metadata={"rejected": metadata["rejected"]}
    )
