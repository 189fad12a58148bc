"""Publish: copy the contract's schemas out of the build database into a fresh file and swap it
onto the warehouse path in one rename, so a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.state import PublishStamp

REQUIRED_TABLES = (  # section 4 of the contract
    "marts.usage_daily",
    "marts.intent_daily",
    "marts.api_daily",
    "marts.kpi_daily",
    "marts.fct_sessions",
    "audit.rejected_events",
)


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class PublishResult:
    tables: dict[str, int]  # "schema.table" -> rows
    size_bytes: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    build_db: Path, warehouse: Path, schemas: tuple[str, ...], stamp: PublishStamp
) -> PublishResult:
    """Atomically replace `warehouse` with the tables of `schemas` from `build_db`.

    `stamp` is written to `marts.publish_info` (key, value) so every copy says what it is (the
    one record of what was published: state.read_publish_stamp), and its `published_at` into
    `marts.pipeline_status.last_published_at`.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    # copies left by a publish that was killed (the caller holds the writer lock)
    for stale in warehouse.parent.glob(f".{warehouse.name}.*.publishing*"):
        stale.unlink(missing_ok=True)
    tmp = warehouse.with_name(f".{warehouse.name}.{os.getpid()}.publishing")
    tables: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"ATTACH '{build_db}' AS build (READ_ONLY)")
            found = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = 'build' AND schema_name IN "
                f"({', '.join('?' for _ in schemas)}) ORDER BY ALL",
                list(schemas),
            ).fetchall()
            for schema in schemas:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            for schema, table in found:
                con.execute(
                    f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM build."{schema}"."{table}"'
                )
                tables[f"{schema}.{table}"] = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}"'
                ).fetchone()[0]
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if missing:
                raise PublishError(f"build database lacks {', '.join(missing)}")
            if "marts.pipeline_status" in tables:  # freshness: this publish is the last one
                con.execute(
                    "UPDATE marts.pipeline_status SET last_published_at = "
                    "CAST(CAST(? AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)",
                    [stamp.published_at],
                )
            con.execute("CREATE TABLE marts.publish_info (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.executemany("INSERT INTO marts.publish_info VALUES (?, ?)", stamp.rows())
            con.execute("DETACH build")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, warehouse)
        _fsync_dir(warehouse.parent)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return PublishResult(tables, warehouse.stat().st_size)
