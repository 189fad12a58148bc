"""Where things live. Every path the pipeline uses is derived here, from three inputs:
the landing folder, the published warehouse file, and (optionally) the state folder.

Environment variables (read only by `PipelineResource.from_env`, for `dagster dev`):
    SBM_LANDING_DIR   landing folder (LANDING/YYYY-MM-DD/*.ndjson)
    SBM_WAREHOUSE     published warehouse file that Superset and analysts read
    SBM_STATE_DIR     state folder; default: beside the warehouse, "<stem>.state"
    SBM_CONFIG        metrics configuration document (JSON or YAML); default: built-in defaults
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# dbt from the same environment, whether or not the venv is activated
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
PARTITIONS_START_DATE = "2020-01-01"  # the oldest delivery day the pipeline accepts
PUBLISHED_SCHEMAS = ("marts", "audit")


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
        return self.state / "run.lock"

    @property
    def build_record(self) -> Path:
        """The definition (configuration + dbt code) the build database was last built with."""
        return self.state / "build.json"

    @property
    def publish_record(self) -> Path:
        """What the published warehouse was built from (config hash, time)."""
        return self.state / "published.json"
