"""Shared fixtures: real generated landing files and a warehouse built by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SBM = str(Path(sys.executable).parent / "servisbot-metrics")
DEMO_DAYS, DEMO_EVENTS, DEMO_SEED = 7, 40_000, 11


def sbm(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed `servisbot-metrics` console script."""
    result = subprocess.run(
        [SBM, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"servisbot-metrics {args[0]} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo-metrics.yaml"


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("demo") / "landing"
    sbm(
        "generate",
        "--out",
        landing,
        "--days",
        DEMO_DAYS,
        "--events",
        DEMO_EVENTS,
        "--seed",
        DEMO_SEED,
    )
    return landing


@pytest.fixture(scope="session")
def published_warehouse(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published by `servisbot-metrics run` over the demo landing folder."""
    warehouse = tmp_path_factory.mktemp("published") / "warehouse.duckdb"
    sbm("run", "--landing", demo_landing, "--warehouse", warehouse)
    return warehouse


@pytest.fixture(scope="session")
def dashboard_warehouse(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published with the demo configuration (KPI dashboards, Europe/Dublin)."""
    warehouse = tmp_path_factory.mktemp("dashboards") / "warehouse.duckdb"
    sbm("run", "--landing", demo_landing, "--warehouse", warehouse, "--config", DEMO_CONFIG)
    return warehouse
