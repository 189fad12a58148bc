"""The metrics configuration as an asset: applying an edit from Dagster's launchpad."""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import yaml

from orchestration.config_edit import ConfigurationEdit, edited
from orchestration.config_history import record_version
from orchestration.keys import METRICS_CONFIGURATION
from orchestration.metrics_config import ConfigError, MetricsConfig
from orchestration.resources import PipelineResource
from orchestration.settings import CONFIG_SCHEMA_PATH


def write_document(path: Path, config: MetricsConfig, note: str) -> None:
    """The effective document at `path` (JSON for .json, else YAML), replaced atomically."""
    if path.suffix == ".json":
        text = json.dumps(config.document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = f"# yaml-language-server: $schema={CONFIG_SCHEMA_PATH}\n# {note}\n" + yaml.safe_dump(
            config.document, sort_keys=False, allow_unicode=True
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dg.asset(
    key=METRICS_CONFIGURATION,
    group_name="config",
    description="The metrics configuration document in effect (contract section 2). "
    "Materializing it from the launchpad applies an edit: the document is checked, written, "
    "recorded as a new version (when, by which run, the diff) and config_sensor then rebuilds "
    "exactly the assets that depend on what changed, and publishes.",
)
def metrics_configuration(
    context: dg.AssetExecutionContext, pipeline: PipelineResource, config: ConfigurationEdit
) -> dg.MaterializeResult:
    file, run_id = pipeline.config_file, context.run.run_id
    with pipeline.writer_lock(context.log.info) as paths:  # one edit at a time, on the latest
        try:
            # a whole pasted document does not need the current one (which may be broken)
            current = pipeline.metrics_config() if config.document is None else None
            new = edited(current, config)
        except ConfigError as exc:
            raise dg.Failure(
                description="configuration not applied:\n" + "\n".join(exc.errors)
            ) from None
        if current is None or new.document != current.document or not file.exists():
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            write_document(file, new, f"written by apply_config_job, run {run_id}, {now}")
        versions = record_version(paths, new, run_id, f"apply_config_job ({file})")
    latest = versions[-1]
    changed = latest["run_id"] == run_id
    context.log.info(
        f"configuration version {latest['version']} ({latest['hash']}) applied to {file}"
        if changed
        else "nothing that the metrics depend on changed; no new version"
    )
    return dg.MaterializeResult(
        metadata={
            "version": dg.MetadataValue.int(latest["version"]),
            "hash": dg.MetadataValue.text(latest["hash"]),
            "file": dg.MetadataValue.path(str(file)),
            "new_version": dg.MetadataValue.bool(changed),
            "diff": dg.MetadataValue.md(
                "```\n" + (latest["diff"] if changed else "(no change)") + "\n```"
            ),
        }
    )
