"""Dagster resources: the one place the pipeline's inputs are configured."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration.engines import Engine
from orchestration.locks import exclusive
from orchestration.metrics_config import MetricsConfig, load_config
from orchestration.settings import (
    ENGINES,
    MAX_REJECT_RATIO,
    SETTLE_SECONDS,
    engine_from_env,
    max_reject_ratio_from_env,
    settle_seconds_from_env,
)
from orchestration.state import WarehousePaths


class PipelineResource(dg.ConfigurableResource):
    """Landing folder, published warehouse, state folder, configuration and quality gate."""

    landing_dir: str
    # dbt's SQL names the raw layer's files by their path, in quotes: no single quote in it
    warehouse_path: str = Field(pattern=r"^[^']*$")
    state_dir: str = Field(default="", pattern=r"^[^']*$")
    config_path: str = ""
    max_reject_ratio: float = Field(
        default=MAX_REJECT_RATIO.default,
        ge=MAX_REJECT_RATIO.low,
        le=MAX_REJECT_RATIO.high,
        description="A delivery day whose share of rejected lines exceeds this fails its "
        "data-quality suite, and nothing is published until the day is fixed.",
    )
    settle_seconds: float = Field(
        default=SETTLE_SECONDS.default,
        ge=SETTLE_SECONDS.low,
        le=SETTLE_SECONDS.high,
        description="A landing file modified less than this many seconds ago is still being "
        "written: it is left for a later run.",
    )
    engine: str = Field(
        default=ENGINES[0],
        pattern=f"^({'|'.join(ENGINES)})$",
        description="The engine dbt builds the models with (orchestration/engines.py).",
    )

    @classmethod
    def from_env(cls) -> PipelineResource:
        """Configured from SBM_* environment variables (see orchestration.settings)."""
        return cls(
            landing_dir=os.environ.get("SBM_LANDING_DIR", "data/landing"),
            warehouse_path=os.environ.get("SBM_WAREHOUSE", "data/warehouse.duckdb"),
            state_dir=os.environ.get("SBM_STATE_DIR", ""),
            config_path=os.environ.get("SBM_CONFIG", ""),
            max_reject_ratio=max_reject_ratio_from_env(),
            settle_seconds=settle_seconds_from_env(),
            engine=engine_from_env(),
        )

    @property
    def build_engine(self) -> Engine:
        return Engine(self.engine)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir).expanduser().resolve()

    @property
    def paths(self) -> WarehousePaths:
        return WarehousePaths.for_warehouse(
            Path(self.warehouse_path), Path(self.state_dir) if self.state_dir else None
        )

    @property
    def config_file(self) -> Path:
        """The configuration document in effect: the one given, else the warehouse's own."""
        if self.config_path:
            return Path(self.config_path).expanduser().resolve()
        return self.paths.config_file

    def metrics_config(self) -> MetricsConfig:
        """The configuration in effect (the built-in defaults when there is no document)."""
        file = self.config_file
        return load_config(file if self.config_path or file.exists() else None)

    @contextmanager
    def writer_lock(self, log: Callable[[str], None]) -> Iterator[WarehousePaths]:
        """Exclusive use of the state folder for one step; another run's step waits.

        An OS file lock, so a killed process (even `kill -9`) releases it at once.
        """
        paths = self.paths
        with exclusive(
            paths.lock,
            lambda: log("another run is writing this warehouse's state; waiting for it"),
        ):
            yield paths
