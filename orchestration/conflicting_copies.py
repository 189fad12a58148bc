"""A fact the planner asks for before an incremental build: redelivered events whose new copy
disagrees with the stored one on who or what they are or when they occurred
(planner.full_refresh_reason)."""

from __future__ import annotations

import duckdb

from orchestration.state import WarehousePaths

# occurred_at as the staged timestamp, spelled the same way for the raw and the stored copy
IDENTITY = (
    "[event_type, organization, bot, visitor_id, coalesce(conversation_id, ''), "
    "cast(cast(occurred_at AS TIMESTAMP) AS VARCHAR)]"
)


def conflicting_copies(paths: WarehousePaths) -> int:
    """Events whose copies ingested since the last build disagree on who, what or when they are.

    Incremental models recompute the conversation or device an event's winning copy names, and
    the daily marts the date partitions of those units' events. A copy that names another one
    (another conversation_id, visitor_id, type, bot or organization) would leave the old one
    stale, and so would a copy that moves the event in time (another occurred_at): the daily
    marts would not recompute the date partition it leaves. Such a batch is built with a full
    refresh instead.
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
