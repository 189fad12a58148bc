"""What the marts are a function of besides the data: the metrics configuration and the dbt code.

Incremental models are only valid under the definition they were built with. When either input
changes, the next dbt build is a full refresh, so old and new definitions never mix.
"""

from __future__ import annotations

import hashlib
import json

from orchestration.metrics_config import MetricsConfig
from orchestration.settings import DBT_PROJECT_DIR, WarehousePaths

DBT_CODE_DIRS = ("models", "macros", "tests")


def dbt_code_hash() -> str:
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in DBT_CODE_DIRS:
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def definition_hash(config: MetricsConfig) -> str:
    return hashlib.sha256(f"{config.content_hash}:{dbt_code_hash()}".encode()).hexdigest()[:16]


def built_definition(paths: WarehousePaths) -> str | None:
    """The definition hash of the last successful dbt build in this state folder."""
    if not paths.build_record.exists() or not paths.build_db.exists():
        return None
    return json.loads(paths.build_record.read_text()).get("definition_hash")


def record_build(paths: WarehousePaths, definition: str) -> None:
    paths.build_record.write_text(json.dumps({"definition_hash": definition}, indent=2))
