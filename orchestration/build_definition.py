"""What the marts are a function of besides the data: the metrics configuration and the dbt code.

Incremental models are only valid under the definition they were built with. When either input
changes, the next dbt build is a full refresh, so old and new definitions never mix.
"""

from __future__ import annotations

import hashlib
import json
import os

import duckdb

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


def definition_hash(config: MetricsConfig, code_hash: str | None = None) -> str:
    """The configuration's hash with the dbt code's (`code_hash`, when already computed)."""
    code_hash = code_hash or dbt_code_hash()
    return hashlib.sha256(f"{config.content_hash}:{code_hash}".encode()).hexdigest()[:16]


def build_record(paths: WarehousePaths) -> dict:
    """{definition_hash, code_hash, config_vars, raw_digest, build_id[, in_progress]} of the
    build database, or {}."""
    if not paths.build_record.exists() or not paths.build_db.exists():
        return {}
    return json.loads(paths.build_record.read_text())


def built_definition(paths: WarehousePaths) -> str | None:
    """The definition hash of the last successful dbt build in this state folder."""
    return build_record(paths).get("definition_hash")


def _write_record(paths: WarehousePaths, record: dict) -> None:
    tmp = paths.build_record.with_name(f".{paths.build_record.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, paths.build_record)


def mark_build_started(paths: WarehousePaths) -> None:
    """Until `record_build`, the build database may hold a half-applied incremental build
    (a run killed mid-way): the next build is then a full refresh."""
    _write_record(paths, {**build_record(paths), "in_progress": True})


def record_build(
    paths: WarehousePaths, config: MetricsConfig, code_hash: str, raw_digest: str, build_id: str
) -> None:
    """A finished build: what it was built from (the configuration's dbt vars, so that the next
    change rebuilds only what it touches), and its id (the run that built it), which the mart
    checks record and the publish step compares."""
    _write_record(
        paths,
        {
            "definition_hash": definition_hash(config, code_hash),
            "code_hash": code_hash,
            "config_vars": config.dbt_vars(),
            "raw_digest": raw_digest,
            "build_id": build_id,
        },
    )


IDENTITY = "[event_type, organization, bot, visitor_id, coalesce(conversation_id, '')]"


def conflicting_copies(paths: WarehousePaths) -> int:
    """Events whose copies ingested since the last build disagree on who or what they are.

    Incremental models recompute the conversation or device an event's winning copy names. A
    copy that names another one (another conversation_id, visitor_id, type, bot or organization)
    would leave the old one stale, so such a batch is built with a full refresh instead.
    """
    events = paths.raw / "events"
    if not paths.build_db.exists() or not any(events.glob("*/*.parquet")):
        return 0
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{paths.build_db}' AS build (READ_ONLY)")
        stored = "build.staging.stg_messenger__events"
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'build' "
            "AND schema_name = 'staging' AND table_name = 'stg_messenger__events'"
        ).fetchone()[0]:
            return 0
        return con.execute(f"""
            WITH new AS (
                SELECT event_id, {IDENTITY} AS identity
                FROM read_parquet('{events}/*/*.parquet', union_by_name = true)
                WHERE ingested_at > (SELECT max(last_ingested_at) FROM {stored})
            ),
            copies AS (
                SELECT * FROM new
                UNION ALL
                SELECT event_id, {IDENTITY} AS identity FROM {stored}
                WHERE event_id IN (SELECT event_id FROM new)
            )
            SELECT count(*) FROM (
                SELECT event_id FROM copies GROUP BY event_id
                HAVING count(DISTINCT identity) > 1
            )""").fetchone()[0]
    finally:
        con.close()


def full_refresh_reason(paths: WarehousePaths, definition: str, asked: bool = False) -> str | None:
    """Why the next dbt build must rebuild everything, or None when incremental is exact."""
    if asked:
        return "asked for"
    previous = built_definition(paths)
    if previous is None:
        return "no previous build"
    if previous != definition:
        return "the configuration or the dbt code changed"
    if build_record(paths).get("in_progress"):
        return "the previous build did not finish"
    conflicts = conflicting_copies(paths)
    if conflicts:
        return f"{conflicts} redelivered event(s) changed conversation, visitor or type"
    return None
