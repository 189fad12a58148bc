"""A number set from the CLI, the environment or Dagster's launchpad has one default and one set
of bounds (orchestration.settings): each way in refuses the same values, naming the setting."""

from __future__ import annotations

import os
import subprocess

import pytest
from pydantic import ValidationError

from orchestration.engines import Engine
from orchestration.resources import PipelineResource
from orchestration.settings import (
    DBT_EXECUTABLE,
    DBT_EXECUTABLE_ENV,
    MAX_REJECT_RATIO,
    SETTLE_SECONDS,
    SPARK_DBT_EXECUTABLE,
)
from tests.conftest import SBM


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SBM, "run", "--landing", "nowhere", "--warehouse", "nowhere.duckdb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("value", ["-0.01", "1.5", "nan", "a tenth"])
def test_the_cli_and_the_environment_refuse_the_same_reject_ratios(value: str) -> None:
    option = _run("--max-reject-ratio", value)
    assert option.returncode == 2  # a usage error, before anything runs
    assert f"--max-reject-ratio: must be a number from 0 to 1, got {value!r}" in option.stderr
    env = _run(SBM_MAX_REJECT_RATIO=value)
    assert env.returncode == 1
    expected = f"SBM_MAX_REJECT_RATIO must be a number from 0 to 1, got {value!r}"
    assert env.stderr.strip() == f"servisbot-metrics: error: {expected}"


def test_the_cli_help_shows_the_default() -> None:
    help_text = subprocess.run([SBM, "run", "--help"], capture_output=True, text=True).stdout
    assert f"(default {MAX_REJECT_RATIO.default:g}," in " ".join(help_text.split())


def test_the_dagster_resource_takes_the_same_defaults_and_bounds() -> None:
    resource = PipelineResource(landing_dir="l", warehouse_path="w.duckdb")
    assert resource.max_reject_ratio == MAX_REJECT_RATIO.default
    assert resource.settle_seconds == SETTLE_SECONDS.default
    for setting, field in (
        (MAX_REJECT_RATIO, "max_reject_ratio"),
        (SETTLE_SECONDS, "settle_seconds"),
    ):
        for inside in (setting.low, setting.high):
            PipelineResource(landing_dir="l", warehouse_path="w.duckdb", **{field: inside})
        for outside in (setting.low - 0.001, setting.high + 0.001):
            with pytest.raises(ValidationError, match=field):
                PipelineResource(landing_dir="l", warehouse_path="w.duckdb", **{field: outside})
        with pytest.raises(ValueError, match=setting.env_var):
            setting.parse(str(setting.high + 1))


def test_an_unknown_engine_is_a_one_line_error_before_anything_runs() -> None:
    result = _run(SBM_ENGINE="postgres")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "servisbot-metrics: error: SBM_ENGINE must be one of duckdb, spark, got 'postgres'"
    )
    with pytest.raises(ValidationError):
        PipelineResource(landing_dir=".", warehouse_path="w.duckdb", engine="postgres")


def test_the_duckdb_engine_runs_the_dbt_sbm_dbt_executable_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DBT_EXECUTABLE_ENV, raising=False)
    assert Engine("duckdb").dbt_executable == DBT_EXECUTABLE
    monkeypatch.setenv(DBT_EXECUTABLE_ENV, "/opt/dbt-wrapper")
    assert Engine("duckdb").dbt_executable == "/opt/dbt-wrapper"
    assert Engine("spark").dbt_executable == SPARK_DBT_EXECUTABLE
