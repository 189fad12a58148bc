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
    SBM_SETTLE_SECONDS  a landing file modified less than this many seconds ago is still being
                      written: no run reads it yet (default 10; 0 reads everything at once)
    SBM_DAGSTER_POSTGRES_URL  when set, Dagster's run history lives in this PostgreSQL database
                      instead of SQLite in the state folder (see orchestration/instance.py)
"""

from __future__ import annotations

import os
import sys
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
