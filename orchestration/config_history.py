"""The history of the metrics configurations a warehouse was built with.

Each configuration that changes what the marts depend on (its `content_hash`) is appended as a
version to the warehouse's history (state.py, ``config_versions.jsonl``): when, by which Dagster
run, from where, the effective document and what changed from the version before. The history
reaches the warehouse as the dbt var ``config_versions`` (``marts.config_versions``), so it
survives full refreshes and a deleted build database; deleting the state folder forgets it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from orchestration.metrics_config import MetricsConfig
from orchestration.state import (
    ConfigVersion,
    WarehousePaths,
    append_config_version,
    read_config_versions,
)

LIST_KEYS = ("alias", "title")  # list items are named by these in a diff, not by position


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:297] + "..."


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects keyed by their alias or title, or None when they have no such name."""
    names = {}
    for item in items:
        name = next((item[k] for k in LIST_KEYS if isinstance(item, dict) and k in item), None)
        if name is None or name in names:
            return None
        names[name] = item
    return names


def _as_maps(old: Any, new: Any, path: str) -> tuple[dict, dict, str] | None:
    """Both sides as {key: value} with the template of a key's path, or None for a leaf."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old, new, "{path}.{key}" if path else "{key}"
    if isinstance(old, list) and isinstance(new, list):
        old_named, new_named = _named(old), _named(new)
        if old_named is not None and new_named is not None:
            return old_named, new_named, "{path}[{key}]"
    return None


def diff_documents(old: Any, new: Any, path: str = "") -> list[str]:
    """What changed, one line per key path: `~ path: old -> new`, `+ path: new`, `- path`.

    Dashboards and use cases are named by alias and title (`kpiDashboards[retail-kpis]`), so
    adding one does not show as a change of every one after it."""
    maps = _as_maps(old, new, path)
    if maps is None:
        return [] if old == new else [f"~ {path}: {_short(old)} -> {_short(new)}"]
    old_map, new_map, template = maps
    lines = []
    for key in [*old_map, *(k for k in new_map if k not in old_map)]:
        where = template.format(path=path, key=key)
        if key not in new_map:
            lines.append(f"- {where}")
        elif key not in old_map:
            lines.append(f"+ {where}: {_short(new_map[key])}")
        else:
            lines += diff_documents(old_map[key], new_map[key], where)
    return lines


def record_version(
    paths: WarehousePaths, config: MetricsConfig, run_id: str, source: str
) -> list[ConfigVersion]:
    """All versions, after appending `config` when it differs from the latest one."""
    versions = read_config_versions(paths)
    if versions and versions[-1]["hash"] == config.content_hash:
        return versions
    previous = json.loads(versions[-1]["content"]) if versions else None
    entry: ConfigVersion = {
        "version": len(versions) + 1,
        "applied_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "hash": config.content_hash,
        "source": source,
        "run_id": run_id,
        "content": json.dumps(config.document, ensure_ascii=False),  # in document order
        "diff": "\n".join(diff_documents(previous, config.document))
        if previous is not None
        else "(first version)",
    }
    append_config_version(paths, entry)
    return [*versions, entry]


def version_with_hash(paths: WarehousePaths, content_hash: str) -> ConfigVersion | None:
    """The latest recorded version with this content hash, if any."""
    matching = [v for v in read_config_versions(paths) if v["hash"] == content_hash]
    return matching[-1] if matching else None
