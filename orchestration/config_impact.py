"""Which dbt models a configuration change touches: those whose SQL (or a macro it calls) reads
a changed dbt var, and everything downstream of them. The rest is valid under both versions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# var('name') in a model or macro; rows_from_var('name', ...) reads the var it is given
_VAR = re.compile(r"""\b(?:var|rows_from_var)\(\s*['"](\w+)['"]""")


def changed_vars(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def _macro_vars(manifest: dict[str, Any], macro_ids: Iterable[str], seen: set[str]) -> set[str]:
    found: set[str] = set()
    for macro_id in macro_ids:
        macro = manifest["macros"].get(macro_id)
        if macro is None or macro_id in seen:
            continue
        seen.add(macro_id)
        found |= set(_VAR.findall(macro["macro_sql"]))
        found |= _macro_vars(manifest, macro["depends_on"]["macros"], seen)
    return found


def vars_read(manifest: dict[str, Any], node: dict[str, Any]) -> set[str]:
    """The dbt vars a model's SQL reads, directly or through the macros it calls."""
    return set(_VAR.findall(node["raw_code"])) | _macro_vars(
        manifest, node["depends_on"]["macros"], set()
    )


def affected_models(manifest: dict[str, Any], changed: set[str]) -> set[str]:
    """Unique ids of the models reading a changed var, and of every model downstream."""
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    pending = [uid for uid, node in models.items() if vars_read(manifest, node) & changed]
    affected: set[str] = set()
    while pending:
        uid = pending.pop()
        if uid not in affected:
            affected.add(uid)
            pending += [child for child in manifest["child_map"].get(uid, []) if child in models]
    return affected
