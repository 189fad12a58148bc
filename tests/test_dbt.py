"""The dbt project on its own: its unit tests (the metric rules at their boundaries) pass, and
its data tests pass on real generated data under a full KPI configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import REPO

from ingest.landing import delivery_days
from ingest.raw_layer import ingest_day
from orchestration.metrics_config import load_config
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR


def _dbt(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dbt_vars = {
        "state_dir": str(state),
        **load_config(REPO / "config/demo-metrics.yaml").dbt_vars(),
    }
    return subprocess.run(
        [
            DBT_EXECUTABLE,
            *args,
            "--vars",
            json.dumps(dbt_vars),
            "--target-path",
            str(state / "target"),
            "--log-path",
            str(state / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=900,
    )


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
