"""A fact the planner asks for before an incremental build: the events an incremental build
cannot update exactly, because a redelivered copy moved them or a re-read delivery day changed
or removed the copy the build holds (planner.full_refresh_reason)."""

from __future__ import annotations

import duckdb

from ingest.raw_layer import day_file, events_glob, read_since
from orchestration.planner import CopyConflicts
from orchestration.publish import sql_str
from orchestration.state import WarehousePaths

# occurred_at as the staged timestamp, spelled the same way for the raw and the stored copy
IDENTITY = (
    "[event_type, organization, bot, visitor_id, coalesce(conversation_id, ''), "
    "cast(cast(occurred_at AS TIMESTAMP) AS VARCHAR)]"
)
# a copy as the ingest wrote it: every field but when it was ingested (staging keeps the
# properties' text as it came)
COPY = (
    "event_id, event_type, organization, bot, visitor_id, conversation_id, channel, page_url, "
    "cast(properties AS VARCHAR) AS properties, cast(occurred_at AS TIMESTAMP) AS occurred_at, "
    "cast(received_at AS TIMESTAMP) AS received_at, cast(delivery_date AS DATE) AS delivery_date, "
    "source_file, cast(line_number AS BIGINT) AS line_number"
)


def conflicting_copies(paths: WarehousePaths) -> CopyConflicts:
    """What the raw rows ingested since the last build do to the events it holds.

    - moved: events whose copies disagree on who, what or when they are. Incremental models
      recompute the conversation or device an event's winning copy names, and the daily marts
      the date partitions of those units' events. A copy that names another one (another
      conversation_id, visitor_id, type, bot or organization) would leave the old one stale,
      and so would a copy that moves the event in time (another occurred_at): the daily marts
      would not recompute the date partition it leaves.
    - replaced: stored events whose winning copy came from a delivery day read again, and which
      that day no longer holds as it was (a corrected file changed it, or dropped it). The raw
      layer no longer has the stored copy; another day's copy it beat, if any, is not staged.
    Either makes the build a full refresh.
    """
    events = paths.raw / "events"
    if not paths.build_db.exists() or not any(events.glob("*/*.parquet")):
        return CopyConflicts(0, 0)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{sql_str(paths.build_db)}' AS build (READ_ONLY)")
        stored = "build.staging.stg_messenger__events"
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'build' "
            "AND schema_name = 'staging' AND table_name = 'stg_messenger__events'"
        ).fetchone()[0]:
            return CopyConflicts(0, 0)
        (watermark,) = con.execute(f"SELECT max(last_ingested_at) FROM {stored}").fetchone()
        if watermark is None:  # nothing stored: nothing to conflict with
            return CopyConflicts(0, 0)
        con.execute(
            f"""CREATE TEMP TABLE new AS
            SELECT event_id, {IDENTITY} AS identity, delivery_date
            FROM read_parquet('{sql_str(events_glob(paths.raw))}', union_by_name = true)
            WHERE ingested_at > ?""",
            [watermark],
        )
        (moved,) = con.execute(f"""
            WITH copies AS (
                SELECT event_id, identity FROM new
                UNION ALL
                SELECT event_id, {IDENTITY} AS identity FROM {stored}
                WHERE event_id IN (SELECT event_id FROM new)
            )
            SELECT count(*) FROM (
                SELECT event_id FROM copies GROUP BY event_id
                HAVING count(DISTINCT identity) > 1
            )""").fetchone()
        # the days read again: those with new rows, and those emptied since (no rows to say so)
        days = {
            d.isoformat()
            for (d,) in con.execute("SELECT DISTINCT delivery_date FROM new").fetchall()
        }
        days |= set(read_since(paths.raw, watermark))
        # of those, the days the build holds events of (a new day costs no read of its file)
        days = {
            d.isoformat()
            for (d,) in con.execute(
                f"SELECT DISTINCT delivery_date FROM {stored} "
                "WHERE delivery_date IN (SELECT unnest(?::DATE[]))",
                [sorted(days)],
            ).fetchall()
        }
        if not days:
            return CopyConflicts(moved, 0)
        files = [str(day_file(paths.raw, "events", day)) for day in sorted(days)]
        (replaced,) = con.execute(
            f"""SELECT count(*) FROM (
                SELECT {COPY} FROM {stored}
                WHERE delivery_date IN (SELECT unnest(?::DATE[]))
                EXCEPT
                SELECT {COPY} FROM read_parquet(?, union_by_name = true)
            )""",
            [sorted(days), files],
        ).fetchone()
        return CopyConflicts(moved, replaced)
    finally:
        con.close()
