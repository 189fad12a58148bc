"""Where things live. Every path the pipeline uses is derived here, from three inputs:
the landing folder, the published warehouse file, and (optionally) the state folder.

Environment variables (read only by `PipelineResource.from_env`, for `dagster dev`):
    SBM_LANDING_DIR   landing folder (LANDING/YYYY-MM-DD/*.ndjson)
    SBM_WAREHOUSE     published warehouse file that Superset and analysts read
    SBM_STATE_DIR     state folder; default: beside the warehouse, "<stem>.state"
    SBM_CONFIG        metrics configuration document (JSON or YAML); default: the state
                      folder's metrics-config.yaml when apply_config_job wrote one, else the
                      built-in defaults
    SBM_MAX_REJECT_RATIO  data-quality gate: largest share of rejected lines in a delivery day
    SBM_SETTLE_SECONDS  a landing file modified less than this many seconds ago is still being
                      written: no run reads it yet (default 10; 0 reads everything at once)
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
PARTITIONS_START_DATE = "2020-01-01"  # the oldest delivery day the pipeline accepts
PUBLISHED_SCHEMAS = ("marts", "audit")
DEFAULT_MAX_REJECT_RATIO = 0.05  # a delivery day rejecting more lines than this blocks publishing
DEFAULT_SETTLE_SECONDS = 10.0  # a landing file younger than this is still being written
LANDING_SETTLE_SECONDS = 60  # the sensor waits until a day's files are this old (still landing)
CONFIG_SENSOR_INTERVAL_SECONDS = 15  # how soon an applied or edited configuration rebuilds
SENSOR_INTERVAL_SECONDS = 60
CLI_PROCESS_TAG = "servisbot-metrics/cli-process"  # in-process runs: host:pid:start time
DAILY_SCHEDULE_CRON = "30 2 * * *"  # UTC: yesterday's delivery day, after late files arrived


class SettingsError(ValueError):
    """A setting from the environment is unusable; the message names it."""


def _number_from_env(name: str, default: float, low: float, high: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:
        raise SettingsError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return number


def max_reject_ratio_from_env() -> float:
    """SBM_MAX_REJECT_RATIO, or the default: one setting for the CLI and `dagster dev`."""
    return _number_from_env("SBM_MAX_REJECT_RATIO", DEFAULT_MAX_REJECT_RATIO, 0, 1)


def settle_seconds_from_env() -> float:
    """SBM_SETTLE_SECONDS, or the default: one setting for the CLI and `dagster dev`."""
    return _number_from_env("SBM_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS, 0, 86400)


@dataclass(frozen=True)
class WarehousePaths:
    """The published warehouse and the state kept beside it between runs."""

    warehouse: Path
    state: Path

    @classmethod
    def for_warehouse(cls, warehouse: Path, state: Path | None = None) -> WarehousePaths:
        warehouse = warehouse.expanduser().resolve()
        state = (
            state.expanduser().resolve()
            if state
            else warehouse.with_name(f"{warehouse.stem}.state")
        )
        return cls(warehouse, state)

    @property
    def raw(self) -> Path:
        """Raw layer: validated events and rejected lines as Parquet per delivery day."""
        return self.state / "raw"

    @property
    def build_db(self) -> Path:
        """The DuckDB file dbt builds into; only `publish` copies out of it."""
        return self.state / "build.duckdb"

    @property
    def dagster_home(self) -> Path:
        """Dagster instance (run history, event log) for this warehouse."""
        return self.state / "dagster"

    @property
    def lock(self) -> Path:
        """Held by every step that writes the state (ingest, dbt, checks, publish)."""
        return self.state / "run.lock"

    @property
    def command_lock(self) -> Path:
        """Held by a whole `servisbot-metrics run` or `backfill`: CLI runs go one after another."""
        return self.state / "command.lock"

    @property
    def quality(self) -> Path:
        """Data-quality outcome of each ingested delivery day (the publish gate reads it)."""
        return self.raw / "quality"

    @property
    def gx_root(self) -> Path:
        """Great Expectations project (suites, validation results, Data Docs)."""
        return self.state / "gx"

    @property
    def data_docs(self) -> Path:
        """Great Expectations Data Docs: every validation of raw days and marts, as HTML."""
        return self.gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def build_record(self) -> Path:
        """The definition (configuration + dbt code) the build database was last built with."""
        return self.state / "build.json"

    @property
    def config_file(self) -> Path:
        """The warehouse's own configuration document when none is given (--config, SBM_CONFIG):
        written by apply_config_job; absent means the built-in defaults."""
        return self.state / "metrics-config.yaml"

    @property
    def publish_record(self) -> Path:
        """What the published warehouse was built from (config hash, time)."""
        return self.state / "published.json"
