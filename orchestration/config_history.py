"""The history of the metrics configurations a warehouse was built with.

Each dbt build that applies a configuration different from the last recorded one appends a
version to ``config_versions.jsonl`` in the warehouse's state folder. The history reaches the
warehouse as the dbt var ``config_versions`` (``marts.config_versions``), so it survives full
refreshes and a deleted build database; deleting the state folder forgets it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from orchestration.metrics_config import MetricsConfig
from orchestration.settings import WarehousePaths

HISTORY_FILE = "config_versions.jsonl"


def read_versions(paths: WarehousePaths) -> list[dict[str, Any]]:
    path = paths.state / HISTORY_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def record_version(
    paths: WarehousePaths, config: MetricsConfig, run_id: str, source: str
) -> list[dict[str, Any]]:
    """All versions, after appending `config` when it differs from the latest one."""
    versions = read_versions(paths)
    if versions and versions[-1]["hash"] == config.content_hash:
        return versions
    entry = {
        "version": len(versions) + 1,
        "applied_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "hash": config.content_hash,
        "source": source,
        "run_id": run_id,
        "content": json.dumps(config.dbt_vars(), sort_keys=True),
    }
    paths.state.mkdir(parents=True, exist_ok=True)
    with (paths.state / HISTORY_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return [*versions, entry]
