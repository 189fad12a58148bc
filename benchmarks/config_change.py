"""What a configuration change costs: applied through Dagster (apply_config_job, then the run
config_sensor requests: only the affected models) against `servisbot-metrics run` with the
changed file (a full rebuild). Medians of --runs runs, each on a fresh copy of a warehouse
built once with the demo configuration.

    .venv/bin/python benchmarks/config_change.py --landing data/landing --work /tmp/cfg-bench
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import yaml

from orchestration.automation import config_sensor
from orchestration.config_edit import ConfigurationEdit, edited
from orchestration.definitions import build_definitions
from orchestration.instance import instance_for
from orchestration.metrics_config import load_config
from orchestration.resources import PipelineResource

REPO = Path(__file__).resolve().parent.parent
SBM = str(Path(sys.executable).parent / "servisbot-metrics")
DEMO_CONFIG = REPO / "config" / "demo-metrics.yaml"
# the changes a business user makes: (name, launchpad edit)
CHANGES = {
    "timeout 10 -> 15 min": {"policies": {"userSession": {"expireOnInactivityInMinutes": 15}}},
    "window 24 -> 48 h": {"impressions": {"uniqueWindowHours": 48}},
    "a new use case": {
        "kpiDashboards": [
            {
                "alias": "retail-kpis",
                "useCases": [
                    {
                        "title": "Returns",
                        "summary": {
                            "start": "return_start",
                            "success": "return_done",
                            "failure": "return_failed",
                        },
                    }
                ],
            }
        ]
    },
}


def _copy(base: Path, to: Path) -> tuple[Path, Path]:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir(parents=True)
    shutil.copy2(base / "wh.duckdb", to / "wh.duckdb")
    shutil.copytree(base / "wh.state", to / "wh.state")
    shutil.copy2(base / "metrics.yaml", to / "metrics.yaml")
    return to / "wh.duckdb", to / "metrics.yaml"


def through_dagster(landing: Path, warehouse: Path, config: Path, edit: dict) -> tuple[float, int]:
    """Seconds for apply_config_job + the requested rebuild, and how many assets it rebuilt."""
    pipeline = PipelineResource(
        landing_dir=str(landing), warehouse_path=str(warehouse), config_path=str(config)
    )
    defs, instance = build_definitions(pipeline), instance_for(pipeline.paths.dagster_home)
    started = time.monotonic()
    applied = defs.resolve_job_def("apply_config_job").execute_in_process(
        run_config={"ops": {"config__metrics_configuration": {"config": edit}}}, instance=instance
    )
    assert applied.success
    tick = config_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=None, resources={"pipeline": pipeline})
    )
    (request,) = tick.run_requests
    job = defs.resolve_job_def("build_job").get_subset(
        asset_selection=set(request.asset_selection),
        asset_check_selection=set(request.asset_check_keys),
    )
    assert job.execute_in_process(instance=instance, tags=request.tags).success
    return time.monotonic() - started, len(request.asset_selection) - 1  # not the publish


def through_the_cli(landing: Path, warehouse: Path, config: Path, edit: dict) -> float:
    """Seconds for `servisbot-metrics run` after the same edit made to the file."""
    document = edited(load_config(config), ConfigurationEdit(**edit)).document
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    started = time.monotonic()
    subprocess.run(
        [SBM, "run", "--landing", landing, "--warehouse", warehouse, "--config", config],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    landing, base = args.landing.resolve(), args.work.resolve() / "base"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.copy2(DEMO_CONFIG, base / "metrics.yaml")
    subprocess.run(
        [SBM, "run", "--landing", landing, "--warehouse", base / "wh.duckdb",
         "--config", base / "metrics.yaml"],
        check=True, capture_output=True,
    )  # fmt: skip
    print("| change | models rebuilt | through Dagster (apply + rebuild) | `run` (full rebuild) |")
    print("|---|---|---|---|")
    for name, edit in CHANGES.items():
        dagster_s, cli_s, rebuilt = [], [], 0
        for i in range(args.runs):
            warehouse, config = _copy(base, args.work.resolve() / f"dagster-{i}")
            seconds, rebuilt = through_dagster(landing, warehouse, config, edit)
            dagster_s.append(seconds)
            warehouse, config = _copy(base, args.work.resolve() / f"cli-{i}")
            cli_s.append(through_the_cli(landing, warehouse, config, edit))
        print(
            f"| {name} | {rebuilt} | {statistics.median(dagster_s):.1f} s "
            f"({' / '.join(f'{s:.1f}' for s in dagster_s)}) | {statistics.median(cli_s):.1f} s "
            f"({' / '.join(f'{s:.1f}' for s in cli_s)}) |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
