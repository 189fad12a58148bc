"""Dagster resources: the one place the pipeline's inputs are configured."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from orchestration.metrics_config import MetricsConfig, load_config
from orchestration.settings import WarehousePaths


class PipelineResource(dg.ConfigurableResource):
    """Landing folder, published warehouse, state folder and configuration document."""

    landing_dir: str
    warehouse_path: str
    state_dir: str = ""
    config_path: str = ""

    @classmethod
    def from_env(cls) -> PipelineResource:
        """Configured from SBM_* environment variables (see orchestration.settings)."""
        return cls(
            landing_dir=os.environ.get("SBM_LANDING_DIR", "data/landing"),
            warehouse_path=os.environ.get("SBM_WAREHOUSE", "data/warehouse.duckdb"),
            state_dir=os.environ.get("SBM_STATE_DIR", ""),
            config_path=os.environ.get("SBM_CONFIG", ""),
        )

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir).expanduser().resolve()

    @property
    def paths(self) -> WarehousePaths:
        return WarehousePaths.for_warehouse(
            Path(self.warehouse_path), Path(self.state_dir) if self.state_dir else None
        )

    def metrics_config(self) -> MetricsConfig:
        return load_config(Path(self.config_path) if self.config_path else None)
