"""Settings: the repository's paths, the pipeline's constants and the settings read from the
environment. The state folder's paths and files are in state.py.

Environment variables (read only by `PipelineResource.from_env`, for `dagster dev`):
    SBM_LANDING_DIR   landing folder (LANDING/YYYY-MM-DD/*.ndjson)
    SBM_WAREHOUSE     published warehouse file that Superset and analysts read
    SBM_STATE_DIR     state folder; default: beside the warehouse, "<stem>.state"
    SBM_CONFIG        metrics configuration document (JSON or YAML); default: the state
                      folder's metrics-config.yaml when apply_config_job wrote one, else the
                      built-in defaults
    SBM_MAX_REJECT_RATIO  data-quality gate: largest share of rejected lines in a delivery day
                      (MAX_REJECT_RATIO below: its default and bounds)
    SBM_SETTLE_SECONDS  a landing file modified less than this many seconds ago is still being
                      written: no run reads it yet (SETTLE_SECONDS below; 0 reads everything)
    SBM_SETTLE_WAIT_SECONDS  how long a CLI run waits for landing files still being written
                      before it fails naming them (SETTLE_WAIT_SECONDS below; 0 fails at once)
    SBM_ENGINE        the engine dbt builds the models with: duckdb (default) or spark
                      (orchestration/engines.py; a Spark cluster: SBM_SPARK_METHOD=thrift,
                      SBM_SPARK_HOST, SBM_SPARK_PORT, read by dbt_project/profiles.yml)
    SBM_SPARK_JAVA_OPTIONS  more JVM options for a local Spark session (dbt_project/profiles.yml),
                      e.g. SPARK_SMALL_DATA_JAVA_OPTIONS below
    SBM_DAGSTER_POSTGRES_URL  when set, Dagster's run history lives in this PostgreSQL database
                      instead of SQLite in the state folder (see orchestration/instance.py)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
CONFIG_SCHEMA_PATH = REPO_ROOT / "config" / "metrics-config.schema.json"
# dbt from the same environment, whether or not the venv is activated
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
# Another command with dbt's command line for the DuckDB engine, e.g. a wrapper (the test suite's
# tests/dbt_forkserver.py); read when a build starts
DBT_EXECUTABLE_ENV = "SBM_DBT_EXECUTABLE"
# dbt-spark's dbt, in the Spark environment (spark/: its own locked environment, `make setup`)
SPARK_DBT_EXECUTABLE = str(REPO_ROOT / "spark" / ".venv" / "bin" / "dbt")
ENGINES = ("duckdb", "spark")  # the first is the default
# JVM options for a local Spark session on small data (SBM_SPARK_JAVA_OPTIONS; the test suite's):
# a build there is some 185 Spark jobs of under a second each, whose CPU goes mostly to the JIT's
# optimizing compiler and the parallel garbage collector's threads. The quick compiler alone and
# the serial collector cut a demo-sized build's CPU time by about 30% (benchmarks/README.md).
SPARK_SMALL_DATA_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
PARTITIONS_START_DATE = "2020-01-01"  # the oldest delivery day the pipeline accepts
PUBLISHED_SCHEMAS = ("marts", "audit")
# DuckDB's memory in the publish (its default is 80% of the machine's): a first publish reads every
# fact row, and DuckDB keeps what it read cached up to the limit (4.2 GB at 30M events without
# one). dbt's DuckDB has 3 GB (dbt_project/profiles.yml) and runs before, not beside it.
PUBLISH_MEMORY_LIMIT = "2GB"
LANDING_SETTLE_SECONDS = 60  # the sensor waits until a day's files are this old (still landing)
CONFIG_SENSOR_INTERVAL_SECONDS = 15  # how soon an applied or edited configuration rebuilds
SENSOR_INTERVAL_SECONDS = 60
DAILY_SCHEDULE_CRON = "30 2 * * *"  # UTC: yesterday's delivery day, after late files arrived


class SettingsError(ValueError):
    """A setting from the environment is unusable; the message names it."""


@dataclass(frozen=True)
class NumberSetting:
    """A number the CLI, the environment and the Dagster resource all take: its one default
    and bounds (inclusive)."""

    env_var: str
    default: float
    low: float
    high: float

    def parse(self, value: str, name: str | None = None) -> float:
        """`value` as a number within the bounds; SettingsError names `name` (the env var)."""
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not self.low <= number <= self.high:
            raise SettingsError(
                f"{name or self.env_var} must be a number from {self.low:g} to {self.high:g}, "
                f"got {value!r}"
            )
        return number

    def from_env(self) -> float:
        """The environment variable's value, or the default."""
        value = os.environ.get(self.env_var, "")
        return self.parse(value) if value else self.default


# a delivery day rejecting a larger share of its lines than this blocks publishing
MAX_REJECT_RATIO = NumberSetting("SBM_MAX_REJECT_RATIO", default=0.05, low=0, high=1)
# a landing file modified less than this many seconds ago is still being written
SETTLE_SECONDS = NumberSetting("SBM_SETTLE_SECONDS", default=10.0, low=0, high=86400)
# a CLI run waits this long at most for the landing files still being written to settle
SETTLE_WAIT_SECONDS = NumberSetting("SBM_SETTLE_WAIT_SECONDS", default=300.0, low=0, high=86400)


def max_reject_ratio_from_env() -> float:
    """SBM_MAX_REJECT_RATIO, or the default: one setting for the CLI and `dagster dev`."""
    return MAX_REJECT_RATIO.from_env()


def engine_from_env() -> str:
    """SBM_ENGINE, or the default engine: one setting for the CLI and `dagster dev`."""
    engine = os.environ.get("SBM_ENGINE", "") or ENGINES[0]
    if engine not in ENGINES:
        raise SettingsError(f"SBM_ENGINE must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


def settle_seconds_from_env() -> float:
    """SBM_SETTLE_SECONDS, or the default: one setting for the CLI and `dagster dev`."""
    return SETTLE_SECONDS.from_env()


def dbt_executable_from_env() -> str:
    """SBM_DBT_EXECUTABLE, or this environment's dbt: the DuckDB engine's dbt."""
    return os.environ.get(DBT_EXECUTABLE_ENV, "") or DBT_EXECUTABLE
