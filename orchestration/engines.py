"""Where the engine matters: which dbt builds the models, whether it builds them incrementally,
and where the publish reads what it built. Everything else (ingest, the quality suites, the dbt
asset and its checks, the publish, the CLI, the sensors) is one code path for both engines.

- duckdb (the default): dbt-duckdb builds into the state folder's build.duckdb, incrementally.
- spark (SBM_ENGINE=spark): dbt-spark, from the Spark environment (spark/.venv), builds the same
  models (the SQL the engines write differently: dbt_project/macros/engine/) as Parquet tables
  under the state folder's spark/warehouse, with a local Spark session, or on a cluster through
  its Thrift server (SBM_SPARK_METHOD=thrift, SBM_SPARK_HOST, SBM_SPARK_PORT: profiles.yml).
  Parquet tables take no DELETE, which the incremental strategies need, so a Spark build
  rebuilds every model (the same rows: tests/test_incremental.py proves incremental builds equal
  to full ones). The publish reads the published schemas through a small DuckDB file of views
  over those Parquet files, so it, and what Superset and analysts read, stays the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.publish import ident, sql_str
from orchestration.settings import ENGINES, SPARK_DBT_EXECUTABLE, dbt_executable_from_env
from orchestration.state import WarehousePaths


@dataclass(frozen=True)
class Engine:
    name: str  # one of settings.ENGINES; also the dbt target (dbt_project/profiles.yml)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}: one of {', '.join(ENGINES)}")

    @property
    def is_spark(self) -> bool:
        return self.name == "spark"

    @property
    def dbt_executable(self) -> str:
        return SPARK_DBT_EXECUTABLE if self.is_spark else dbt_executable_from_env()

    @property
    def rebuilds_whole(self) -> bool:
        """Whether every build rebuilds every model (no incremental builds)."""
        return self.is_spark

    def prepare(self, paths: WarehousePaths) -> None:
        """Before a build: Spark's folder, where its catalog writes its log (profiles.yml)."""
        if self.is_spark:
            paths.spark_warehouse.parent.mkdir(parents=True, exist_ok=True)

    def build_database(self, paths: WarehousePaths, schemas: dict[str, list[str]]) -> Path:
        """The DuckDB file the publish reads `schemas` ({schema: [table, ...]}) from."""
        if not self.is_spark:
            return paths.build_db
        return _views_over_spark_tables(paths, schemas)


def spark_table_dir(paths: WarehousePaths, schema: str, table: str) -> Path:
    """Where a local Spark session keeps a table's Parquet files (profiles.yml)."""
    return paths.spark_warehouse / f"{schema}.db" / table


def _views_over_spark_tables(paths: WarehousePaths, schemas: dict[str, list[str]]) -> Path:
    """A DuckDB file with one view per table over the Parquet files Spark wrote (made anew, and
    renamed into place: a half-written file is never read)."""
    target = paths.spark_warehouse.parent / "published-views.duckdb"
    temporary = target.with_name(f"{target.name}.tmp")
    temporary.unlink(missing_ok=True)
    con = duckdb.connect(str(temporary))
    try:
        for schema, tables in schemas.items():
            con.execute(f"CREATE SCHEMA {ident(schema)}")
            for table in tables:
                files = spark_table_dir(paths, schema, table) / "*.parquet"
                con.execute(
                    f"CREATE VIEW {ident(schema)}.{ident(table)} AS "
                    f"SELECT * FROM read_parquet('{sql_str(files)}')"
                )
    finally:
        con.close()
    os.replace(temporary, target)
    return target
