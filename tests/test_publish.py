"""The publish on real DuckDB and Parquet files: a build database made here (the contract's
tables, a few days of facts), published again and again into one warehouse.

What it proves: only changed partitions are written (the others are hard links to the previous
version's files), a partition that disappears is gone, every table reads back exactly as built
(columns, order, types, rows), a reader holding a connection keeps reading its version, a
publish that fails or is killed midway leaves the published warehouse as it was, and only the
last KEEP_VERSIONS versions are kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from orchestration import publish as pub
from orchestration import state
from orchestration.publish import KEEP_VERSIONS, data_dir, publish, published_version

SCHEMAS = ("marts", "audit")
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23")
DAY4 = "CAST(DATE '2026-11-20' + CAST(i % 4 AS INTEGER) AS DATE)"  # i over the four DAYS
DAY2 = "CAST(DATE '2026-11-20' + CAST(i % 2 AS INTEGER) AS DATE)"
DAYI = "CAST(DATE '2026-11-20' + CAST(i AS INTEGER) AS DATE)"


def _stamp(n: int) -> state.PublishStamp:
    return state.PublishStamp(f"2026-11-30T00:00:0{n}+00:00", "c", "1", "d", "r", f"b{n}", "g", "p")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build database: the contract's tables, facts over DAYS, small daily marts."""
    path = tmp_path / "build.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA audit")
    con.execute(
        "CREATE TABLE marts.fct_sessions AS SELECT 's' || i AS session_id, 'org' AS organization, "
        "'bot' || (i % 3) AS bot, 'c' || (i // 2) AS conversation_id, "
        "'v' || (i % 7) AS visitor_id, "
        "TIMESTAMP '2026-11-20 00:00:00' + INTERVAL (i % 4) DAY + INTERVAL (i) MINUTE "
        f"AS session_start_at, {DAY4} AS session_date, "
        "i * 1.5 AS duration_seconds, [i, i + 1] AS numbers, {'k': i} AS extra "
        "FROM range(400) t(i)"
    )
    con.execute(
        "CREATE TABLE marts.fct_api_calls AS SELECT 'a' || i AS call_id, "
        f"{DAY4} AS call_date, i % 500 + 100 AS status_code "
        "FROM range(200) t(i)"
    )
    con.execute(  # empty fact table: stays a native (empty) table
        "CREATE TABLE marts.fct_kpi_outcomes (conversation_date DATE, outcome VARCHAR)"
    )
    for table in ("usage_daily", "intent_daily", "api_daily", "kpi_daily"):
        con.execute(
            f"CREATE TABLE marts.{table} AS SELECT {DAYI} AS metric_date, "
            "'org' AS organization, 'bot' AS bot, i * 10 AS n FROM range(4) t(i)"
        )
    con.execute(
        "CREATE TABLE marts.pipeline_status AS SELECT DATE '2026-11-20' AS delivery_date, "
        "CAST(NULL AS TIMESTAMP) AS last_published_at"
    )
    con.execute(
        "CREATE TABLE audit.rejected_events AS SELECT 'f.ndjson' AS source_file, i AS line_number, "
        f"'bad' AS reason, '{{' AS raw_line, {DAY2} "
        "AS delivery_date FROM range(10) t(i) UNION ALL SELECT 'g', 1, 'bad', '[', NULL"
    )
    con.close()
    return path


def _sql(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


def _files(warehouse: Path, version: int) -> dict[str, int]:
    """Every Parquet file of a version (relative path) -> inode."""
    root = data_dir(warehouse) / f"v{version}"
    return {p.relative_to(root).as_posix(): p.stat().st_ino for p in root.rglob("*.parquet")}


def _assert_same_as_build(warehouse: Path, build: Path) -> None:
    """Every built table reads back from the warehouse with the same columns, order, types and
    rows (as a multiset)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{build}' AS b (READ_ONLY)")
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        built = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'b' "
            "ORDER BY ALL"
        ).fetchall()
        for schema, table in built:
            shape = (
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                "AND schema_name = ? AND table_name = ? ORDER BY column_index"
            )
            expected = con.execute(shape, ["b", schema, table]).fetchall()
            assert con.execute(shape, ["w", schema, table]).fetchall() == expected, table
            if table == "pipeline_status":  # the publish sets last_published_at
                continue
            for one, other in (("b", "w"), ("w", "b")):
                diff = con.execute(
                    f"SELECT count(*) FROM (SELECT * FROM {one}.{schema}.{table} "
                    f"EXCEPT ALL SELECT * FROM {other}.{schema}.{table})"
                ).fetchone()[0]
                assert diff == 0, f"{schema}.{table}: {diff} rows of {one} not in {other}"
    finally:
        con.close()


def test_one_day_change_rewrites_only_that_day(tmp_path: Path, build: Path) -> None:
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    first = publish(build, warehouse, SCHEMAS, _stamp(1))
    assert (first.version, first.linked) == (1, 0)
    assert first.written == 4 + 4 + 3  # sessions, api calls, rejected events (2 days + NULL)
    assert first.tables["marts.fct_sessions"] == 400
    _assert_same_as_build(warehouse, build)
    assert warehouse.stat().st_size < 2_000_000, "the DuckDB file holds no fact rows"
    view = duckdb.connect(str(warehouse), read_only=True)
    kinds = dict(
        view.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    )
    view.close()
    assert kinds["fct_sessions"] == "VIEW" and kinds["usage_daily"] == "BASE TABLE"
    assert kinds["fct_kpi_outcomes"] == "BASE TABLE"  # empty: copied natively

    # nothing changed: every partition is linked
    second = publish(build, warehouse, SCHEMAS, _stamp(2))
    assert (second.version, second.written, second.linked) == (2, 0, 11)
    assert _files(warehouse, 2) == _files(warehouse, 1)

    # one day of sessions changes (one row updated): only that file is new
    _sql(build, "UPDATE marts.fct_sessions SET bot = 'other' WHERE session_id = 's5'")
    third = publish(build, warehouse, SCHEMAS, _stamp(3))
    assert (third.written, third.linked) == (1, 10)
    before, after = _files(warehouse, 2), _files(warehouse, 3)
    assert before.keys() == after.keys()
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"marts/fct_sessions/session_date=2026-11-21/data_0.parquet"}  # 5 % 4 = 1
    _assert_same_as_build(warehouse, build)
    assert state.read_publish_stamp(state.WarehousePaths.for_warehouse(warehouse)) == _stamp(3)
    con = duckdb.connect(str(warehouse), read_only=True)
    published = con.execute("SELECT DISTINCT last_published_at FROM marts.pipeline_status")
    assert str(published.fetchone()[0]) == "2026-11-30 00:00:03"
    con.close()


def test_a_partition_that_disappears_is_gone(tmp_path: Path, build: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    publish(build, warehouse, SCHEMAS, _stamp(1))
    _sql(build, "DELETE FROM marts.fct_api_calls WHERE call_date = DATE '2026-11-22'")
    _sql(build, "DELETE FROM audit.rejected_events WHERE delivery_date IS NULL")
    result = publish(build, warehouse, SCHEMAS, _stamp(2))
    assert (result.written, result.linked) == (0, 9)
    files = _files(warehouse, 2)
    assert not [f for f in files if "2026-11-22" in f and "fct_api_calls" in f]
    assert not [f for f in files if "delivery_date=null" in f]
    assert [f for f in _files(warehouse, 1) if "call_date=2026-11-22" in f]  # v1 still has it
    _assert_same_as_build(warehouse, build)

    # and a table emptied entirely: a native empty table, no partitions left
    _sql(build, "DELETE FROM marts.fct_api_calls")
    publish(build, warehouse, SCHEMAS, _stamp(3))
    assert not [f for f in _files(warehouse, 3) if "fct_api_calls" in f]
    _assert_same_as_build(warehouse, build)


def test_reader_with_open_connection_keeps_reading_its_version(tmp_path: Path, build: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    publish(build, warehouse, SCHEMAS, _stamp(1))
    reader = duckdb.connect(str(warehouse), read_only=True)
    numbers = "SELECT count(*), sum(length(bot)), max(session_date) FROM marts.fct_sessions"
    before = reader.execute(numbers).fetchone()
    try:
        for n in range(2, KEEP_VERSIONS + 1):  # the reader's version is still kept after these
            _sql(build, f"DELETE FROM marts.fct_sessions WHERE session_date = DATE '{DAYS[-1]}'")
            _sql(build, f"UPDATE marts.fct_sessions SET bot = bot || '{n}'")
            publish(build, warehouse, SCHEMAS, _stamp(n))
            assert reader.execute(numbers).fetchone() == before
            assert reader.execute(
                "SELECT value FROM marts.publish_info WHERE key = 'build_id'"
            ).fetchone() == ("b1",)
    finally:
        reader.close()
    fresh = duckdb.connect(":memory:")
    fresh.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
    now = fresh.execute(numbers.replace("marts.", "w.marts.")).fetchone()
    fresh.close()
    assert now != before and now[0] == 300


def test_failed_publish_leaves_the_warehouse_as_it_was(
    tmp_path: Path, build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    publish(build, warehouse, SCHEMAS, _stamp(1))
    published, files = warehouse.read_bytes(), _files(warehouse, 1)
    _sql(build, "UPDATE marts.fct_sessions SET bot = 'changed'")

    real = pub._write_partitions
    calls = []

    def fail_after_first(*args, **kwargs):  # the first table's Parquet is written, then a failure
        result = real(*args, **kwargs)
        calls.append(result)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(pub, "_write_partitions", fail_after_first)
    with pytest.raises(OSError, match="injected"):
        publish(build, warehouse, SCHEMAS, _stamp(2))
    assert calls, "some Parquet was written before the failure"
    assert warehouse.read_bytes() == published
    assert sorted(os.listdir(data_dir(warehouse))) == ["v1"]
    assert _files(warehouse, 1) == files
    monkeypatch.undo()

    result = publish(build, warehouse, SCHEMAS, _stamp(3))
    assert result.version == 2
    _assert_same_as_build(warehouse, build)


def test_publish_killed_before_the_swap(tmp_path: Path, build: Path) -> None:
    """SIGKILL at the last moment (version folder complete, new file written, not yet
    swapped): the warehouse is unchanged; the next publish removes what was left and works."""
    warehouse = tmp_path / "warehouse.duckdb"
    publish(build, warehouse, SCHEMAS, _stamp(1))
    published = warehouse.read_bytes()
    _sql(build, "UPDATE marts.fct_sessions SET bot = 'changed' WHERE session_date = '2026-11-20'")
    child = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from orchestration import publish as pub
        from orchestration.state import PublishStamp
        def killed(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        pub.os.replace = killed
        pub.publish(Path({str(build)!r}), Path({str(warehouse)!r}), {SCHEMAS!r},
                    PublishStamp("2026-11-30T00:00:02+00:00", *"c1drbgp"))
        """
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=Path(pub.__file__).parents[1])
    assert done.returncode == -signal.SIGKILL
    assert warehouse.read_bytes() == published
    assert published_version(warehouse) == 1
    leftovers = sorted(p.name for p in warehouse.parent.iterdir() if "publishing" in p.name)
    assert leftovers, "the killed publish left its new file"
    assert (data_dir(warehouse) / "v2").is_dir(), "and its (unpublished) version folder"

    result = publish(build, warehouse, SCHEMAS, _stamp(3))
    assert result.version == 2  # the unpublished v2 was removed, its number reused
    assert sorted(os.listdir(data_dir(warehouse))) == ["v1", "v2"]
    assert not [p for p in warehouse.parent.iterdir() if "publishing" in p.name]
    assert (result.written, result.linked) == (1, 10)  # linked from v1, the published one
    _assert_same_as_build(warehouse, build)


def test_only_the_last_versions_are_kept(
    tmp_path: Path, build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    for n in range(1, 5):  # quick publishes: versions replaced a moment ago are all kept
        _sql(build, f"UPDATE marts.fct_api_calls SET status_code = {n} WHERE call_id = 'a0'")
        assert publish(build, warehouse, SCHEMAS, _stamp(n)).version == n
    assert sorted(p.name for p in data_dir(warehouse).iterdir()) == ["v1", "v2", "v3", "v4"]

    monkeypatch.setattr(pub, "KEEP_SECONDS", 0.0)  # as if they were replaced long ago
    for n in range(5, 7):
        _sql(build, f"UPDATE marts.fct_api_calls SET status_code = {n} WHERE call_id = 'a0'")
        assert publish(build, warehouse, SCHEMAS, _stamp(n)).version == n
    kept = sorted(p.name for p in data_dir(warehouse).iterdir())
    assert kept == [f"v{n}" for n in range(7 - KEEP_VERSIONS, 7)]
    _assert_same_as_build(warehouse, build)  # links survive the deletion of older versions
