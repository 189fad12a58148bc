"""The dbt project on its own: its unit tests (the metric rules at their boundaries) pass, and
its data tests pass on real generated data under a full KPI configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, dbt

from ingest.landing import delivery_days
from ingest.raw_layer import ingest_day
from orchestration.metrics_config import load_config


def _dbt(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return dbt(state, load_config(REPO / "config/demo-metrics.yaml").dbt_vars(), *args, timeout=900)


def _passed(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stdout[-6000:]
    summary = result.stdout.rsplit("Done. ", 1)[1]
    assert "ERROR=0" in summary and "WARN=0" in summary, summary
    return int(summary.split("PASS=")[1].split()[0])


@pytest.fixture(scope="module")
def built_state(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw layer from the demo landing files and a dbt build of the models and data tests."""
    state = tmp_path_factory.mktemp("dbt") / "build.state"
    for day in delivery_days(demo_landing):
        ingest_day(demo_landing, day, state / "raw", log=lambda _: None)
    # keys, required columns, relationships, accepted values, numerators <= denominators, ...
    assert _passed(_dbt(state, "build", "--exclude-resource-type", "unit_test")) > 150
    return state


def test_a_null_in_a_required_column_fails_the_models_not_null_test(
    built_state: Path, tmp_path: Path
):
    state = tmp_path / "build.state"
    state.mkdir()
    (state / "raw").symlink_to(built_state / "raw")
    shutil.copy(built_state / "build.duckdb", state / "build.duckdb")
    with duckdb.connect(str(state / "build.duckdb")) as con:
        con.execute(
            "UPDATE marts.fct_sessions SET visitor_id = NULL WHERE session_id IN "
            "(SELECT session_id FROM marts.fct_sessions ORDER BY session_id LIMIT 2)"
        )

    result = _dbt(state, "test", "--select", "fct_sessions,test_name:not_null_columns")
    assert result.returncode == 1
    assert "Failure in test not_null_columns_fct_sessions_" in result.stdout
    # the failing rows name the column and its count of nulls
    (compiled,) = (state / "target" / "compiled").rglob("not_null_columns_fct_sessions_*.sql")
    with duckdb.connect(str(state / "build.duckdb"), read_only=True) as con:
        assert con.execute(compiled.read_text()).fetchall() == [("visitor_id", 2)]


def test_unit_tests_pass(built_state: Path):
    assert _passed(_dbt(built_state, "test", "--select", "test_type:unit")) >= 15


def test_demo_configuration_gives_kpis(dashboard_warehouse: Path):
    # the session's `servisbot-metrics run` of the demo landing folder with the demo configuration
    warehouse = dashboard_warehouse
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        outcomes = dict(
            con.execute("select dashboard, sum(starts) from marts.kpi_daily group by 1").fetchall()
        )
        balanced = con.execute(
            "select count(*) from marts.kpi_daily where starts <> successes + failures + abandons"
        ).fetchone()[0]
        buckets = con.execute(
            "select count(distinct bucket) from marts.kpi_bucket_daily"
        ).fetchone()[0]
    finally:
        con.close()
    assert set(outcomes) == {"retail-kpis", "helpdesk-kpis", "lending-kpis"}
    assert all(n > 0 for n in outcomes.values())
    assert balanced == 0
    assert buckets >= 5


@pytest.fixture(scope="module")
def incremental_state(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All but the last delivery day built, then the last day built incrementally (dbt build)."""
    state = tmp_path_factory.mktemp("dbt-incremental") / "build.state"
    *earlier, last = delivery_days(demo_landing)
    for day in earlier:
        ingest_day(demo_landing, day, state / "raw", log=lambda _: None)
    _passed(_dbt(state, "build", "--exclude-resource-type", "unit_test"))
    ingest_day(demo_landing, last, state / "raw", log=lambda _: None)
    _passed(_dbt(state, "build", "--exclude-resource-type", "unit_test"))
    return state


def _compiled_test(state: Path, name: str) -> str:
    (path,) = (state / "target" / "run").rglob(f"{name}.sql")
    return path.read_text()


def test_an_incremental_build_checks_the_rows_it_rewrote(incremental_state: Path, tmp_path: Path):
    """The incremental build's data tests read the partitions (daily marts) and units (facts)
    it recomputed: a violation planted there fails the test as the build ran it, one planted
    elsewhere is left to a full refresh or `dbt test`, which check every row."""
    state = tmp_path / "build.state"
    state.mkdir()
    (state / "raw").symlink_to(incremental_state / "raw")
    shutil.copy(incremental_state / "build.duckdb", state / "build.duckdb")
    partitions_test = _compiled_test(
        incremental_state, "not_greater_than_api_daily_failed_calls__calls"
    )
    sessions_test = _compiled_test(incremental_state, "unique_fct_sessions_session_id")
    assert (
        "int_touched_partitions" in partitions_test and "int_conversation_events" in sessions_test
    )

    with duckdb.connect(str(state / "build.duckdb")) as con:
        touched = (
            "(metric_date, organization, bot) in "
            "(select metric_date, organization, bot from intermediate.int_touched_partitions)"
        )
        # one api_daily row in a partition the build recomputed, one in a partition it left alone
        inside, outside = (
            con.execute(
                f"select metric_date, organization, bot, api from marts.api_daily "
                f"where {'' if is_in else 'not '}{touched} order by all limit 1"
            ).fetchone()
            for is_in in (True, False)
        )
        for row in (inside, outside):
            con.execute(
                "update marts.api_daily set failed_calls = calls + 1 "
                "where (metric_date, organization, bot, api) = (?, ?, ?, ?)",
                list(row),
            )
        # a copy of one session of a conversation the build rewrote, and of one it did not
        (watermark,) = con.execute(
            "select min(ingested_after) from intermediate.int_build_scope"
        ).fetchone()
        assert watermark is not None
        for rewritten in (True, False):
            con.execute(
                f"""insert into marts.fct_sessions
                select * from marts.fct_sessions
                where (organization, bot, conversation_id) {"" if rewritten else "not "}in (
                    select organization, bot, conversation_id
                    from intermediate.int_conversation_events where last_ingested_at > ?
                )
                order by session_id limit 1""",
                [watermark],
            )
        failures = {
            name: con.execute(sql).fetchone()[0]
            for name, sql in (("partitions", partitions_test), ("sessions", sessions_test))
        }
    assert failures == {"partitions": 1, "sessions": 1}

    # `dbt test` (as after a full refresh) checks every row: both violations of each
    result = _dbt(state, "test", "--select", "api_daily", "fct_sessions")
    assert result.returncode == 1
    assert "not_greater_than_api_daily_failed_calls__calls" in result.stdout
    full_partitions = _compiled_test(state, "not_greater_than_api_daily_failed_calls__calls")
    full_sessions = _compiled_test(state, "unique_fct_sessions_session_id")
    assert "int_touched_partitions" not in full_partitions
    with duckdb.connect(str(state / "build.duckdb"), read_only=True) as con:
        assert con.execute(full_partitions).fetchone()[0] == 2
        assert con.execute(full_sessions).fetchone()[0] == 2
