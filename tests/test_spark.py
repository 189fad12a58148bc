"""One dbt project, two engines: the models built by dbt-spark (a local Spark session) over the
same raw layer give the same tables as dbt-duckdb, and a pipeline run with SBM_ENGINE=spark
publishes the same warehouse as one on DuckDB, row for row (doubles within 1e-9 relative).

Spark runs in its own environment (spark/.venv: dbt-spark and pyspark do not resolve together
with the pipeline's dbt-duckdb) and writes its tables as Parquet under the state folder
(spark/warehouse/<schema>.db/<table>), which DuckDB reads for the comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import (
    DEMO_CONFIG,
    REPO,
    WATERMARK,
    Site,
    clone_site,
    days_of,
    published_tables,
    query,
    sbm,
)
from conftest import RUN_METADATA as PUBLISH_METADATA

from ingest.landing import delivery_days
from ingest.raw_layer import ingest_day
from orchestration.metrics_config import load_config
from orchestration.settings import DBT_PROJECT_DIR, SPARK_DBT_EXECUTABLE, dbt_executable_from_env

# Minutes each (a Spark session per dbt command): in `make test`, not in `make check`.
pytestmark = pytest.mark.spark

# Build bookkeeping, not data: what an incremental DuckDB build started from (empty on Spark,
# whose models are rebuilt whole), and when a table was built.
BUILD_SCOPE_TABLES = {"int_build_scope", "int_touched_partitions"}
RUN_METADATA = {"built_at"}


def _dbt(executable: str, state: Path, *args: str) -> None:
    dbt_vars = {
        "state_dir": str(state),
        **load_config(REPO / "config/demo-metrics.yaml").dbt_vars(),
    }
    target = "spark" if executable == SPARK_DBT_EXECUTABLE else "duckdb"
    result = subprocess.run(
        [
            executable,
            *args,
            "--target",
            target,
            "--vars",
            json.dumps(dbt_vars),
            "--target-path",
            str(state / f"target-{target}"),
            "--log-path",
            str(state / f"logs-{target}"),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = result.stdout.rsplit("Done. ", 1)[1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = 'duck' and table_type = 'BASE TABLE' "
        "and table_schema in ('staging', 'intermediate', 'marts', 'audit') order by all"
    ).fetchall()


def _rows(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> list[tuple]:
    select = ", ".join(
        f"cast({c} as varchar) as {c}" if c == "properties" else c
        for c in columns
        if c not in RUN_METADATA
    )
    rows = con.execute(f"select {select} from {relation}").fetchall()
    return sorted(rows, key=lambda row: repr(tuple(_rounded(v) for v in row)))


def _assert_same_rows(name: str, spark: list[tuple], duck: list[tuple]) -> None:
    assert len(spark) == len(duck), f"{name}: {len(spark)} rows on Spark, {len(duck)} on DuckDB"
    for n, (s_row, d_row) in enumerate(zip(spark, duck, strict=True)):
        assert all(_same(s, d) for s, d in zip(s_row, d_row, strict=True)), (
            f"{name} row {n}:\n  spark  {s_row}\n  duckdb {d_row}"
        )


def _rounded(value: object) -> object:
    return round(value, 6) if isinstance(value, float) else value


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _assert_engines_build_the_same(landing: Path, state: Path) -> int:
    """Ingest `landing`, build it on both engines, compare every table; the rows compared."""
    for day in delivery_days(landing):
        ingest_day(landing, day, state / "raw", log=lambda _: None)
    _dbt(dbt_executable_from_env(), state, "build", "--exclude-resource-type", "unit_test")
    _dbt(SPARK_DBT_EXECUTABLE, state, "run")

    con = duckdb.connect()
    con.execute(f"attach '{state / 'build.duckdb'}' as duck (read_only)")
    tables = [(s, t) for s, t in _tables(con) if t not in BUILD_SCOPE_TABLES]
    assert ("marts", "usage_daily") in tables and ("marts", "kpi_daily") in tables
    compared = 0
    for schema, table in tables:
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = "
                "'duck' and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
        ]
        spark_files = state / "spark" / "warehouse" / f"{schema}.db" / table
        assert spark_files.is_dir(), f"Spark built no table {schema}.{table}"
        duck = _rows(con, f"duck.{schema}.{table}", columns)
        spark = _rows(con, f"read_parquet('{spark_files}/*.parquet')", columns)
        _assert_same_rows(f"{schema}.{table}", spark, duck)
        compared += len(duck)
    return compared


def _line(n: int, kind: str, at: dt.datetime, visitor: str, conversation: str | None) -> str:
    event = {
        "event_id": f"b{n:04d}",
        "event_type": kind,
        "occurred_at": at.isoformat(timespec="milliseconds") + "Z",
        "received_at": (at + dt.timedelta(minutes=1)).isoformat(timespec="milliseconds") + "Z",
        "organization": "org-boundaries",
        "bot": "bot-a",
        "visitor_id": visitor,
        "properties": {"text": "hi"} if kind == "user_message" else {},
    }
    if conversation:
        event["conversation_id"] = conversation
    return json.dumps(event)


def _boundary_lines(start: dt.datetime) -> list[str]:
    """Spark computes the anchored windows (unique impressions, the candidate windows of 12, 24
    and 48 h, conversations) by another algorithm than DuckDB: gaps of exactly a window or a
    timeout, a millisecond less, and ties at one instant."""
    hour, ms = dt.timedelta(hours=1), dt.timedelta(milliseconds=1)
    gaps = [0 * hour, 24 * hour - ms, ms, 24 * hour, 0 * hour, 12 * hour, 12 * hour - ms, 48 * hour]
    lines, at = [], start
    for n, gap in enumerate(gaps):  # one visitor's impressions
        at += gap
        lines.append(_line(n, "impression", at, "v1", None))
    at = start
    for n, gap in enumerate([0, 10, 10, 9, 24 * 60, 1, 24 * 60 - 1], start=100):  # minutes
        at += dt.timedelta(minutes=gap)
        kind = "conversation_start" if n == 100 else "user_message"
        lines.append(_line(n, kind, at, "v2", "c2"))
    return lines


def test_spark_builds_the_same_tables_as_duckdb(demo_landing: Path, tmp_path: Path) -> None:
    """Every table of a dbt build over the demo's days, plus one visitor on the windows'
    boundaries (delivered with the first day, within the demo's dates)."""
    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing)
    first = days_of(landing)[0]
    start = dt.datetime.fromisoformat(first) + dt.timedelta(hours=1)
    (landing / first / "boundaries.ndjson").write_text("\n".join(_boundary_lines(start)) + "\n")
    assert _assert_engines_build_the_same(landing, tmp_path / "wh.state") > 10_000


def _assert_same_warehouse(spark: Path, duck: Path) -> None:
    tables = published_tables(duck)
    assert published_tables(spark) == tables
    for table in tables:
        columns = [
            c
            for (c,) in query(duck, f"select column_name from (describe {table})")
            # when and by which run rows were ingested and built (the two sites' runs differ)
            if c not in (*PUBLISH_METADATA.get(table, ()), WATERMARK)
        ]
        with (
            duckdb.connect(str(duck), read_only=True) as d,
            duckdb.connect(str(spark), read_only=True) as s,
        ):
            _assert_same_rows(table, _rows(s, table, columns), _rows(d, table, columns))
    engines = {
        path: dict(query(path, "select key, value from marts.publish_info"))["engine"]
        for path in (spark, duck)
    }
    assert engines == {spark: "spark", duck: "duckdb"}


def _run(site: Site, engine: str, *extra: object) -> None:
    sbm(
        "run",
        "--landing",
        site.landing,
        "--warehouse",
        site.warehouse,
        *extra,
        env={"SBM_ENGINE": engine},
    )


def test_a_spark_run_publishes_what_a_duckdb_run_publishes(
    base_site: Site, demo_landing: Path, tmp_path: Path
) -> None:
    """The demo's days but the last (with their dirt: duplicates, late events, malformed lines),
    then the last day (an incremental run on DuckDB), then a configuration change (KPI
    dashboards, another time zone): after each, both engines publish the same numbers."""
    duck = clone_site(base_site, tmp_path / "duck", demo_landing, with_last_day=False)
    spark = Site(tmp_path / "spark" / "landing", tmp_path / "spark" / "wh.duckdb")
    spark.landing.parent.mkdir()
    shutil.copytree(duck.landing, spark.landing)
    _run(spark, "spark")
    _assert_same_warehouse(spark.warehouse, duck.warehouse)

    last = days_of(demo_landing)[-1]
    for site in (duck, spark):
        shutil.copytree(demo_landing / last, site.landing / last)
    _run(duck, "duckdb")
    _run(spark, "spark")
    _assert_same_warehouse(spark.warehouse, duck.warehouse)

    _run(duck, "duckdb", "--config", DEMO_CONFIG)
    _run(spark, "spark", "--config", DEMO_CONFIG)
    assert query(duck.warehouse, "select count(*) from marts.kpi_daily")[0][0] > 0
    _assert_same_warehouse(spark.warehouse, duck.warehouse)
