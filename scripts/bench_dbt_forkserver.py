"""Benchmark: the test suite's dbt fork server (tests/dbt_forkserver.py), its start and the full
parse of a new warehouse's first dbt command through it.

Each command gets a state folder of its own, so dbt parses the whole project (its vars differ from
the last parse's), as on a test's first build of a warehouse. A fork's CPU time is not reported to
this process (the server's children are reaped by the kernel), so the script measures the whole
machine's busy CPU time (/proc/stat, user + system) around each step: run it on a quiet machine.

    .venv/bin/python scripts/bench_dbt_forkserver.py [--parses 3] [--server-from FOLDER]

`--server-from` imports dbt_forkserver.py from another folder (e.g. a version from git history:
`git show REV:tests/dbt_forkserver.py > /tmp/old/dbt_forkserver.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

T = TypeVar("T")


def _busy_cpu_seconds() -> float:
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, *_ = map(int, stat.readline().split()[1:])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _timed(step: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float, float]:
    """`step(*args, **kwargs)`'s result, wall seconds and the machine's busy CPU seconds."""
    wall, cpu = time.monotonic(), _busy_cpu_seconds()
    result = step(*args, **kwargs)
    return result, time.monotonic() - wall, _busy_cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parses", type=int, default=3)
    parser.add_argument("--server-from", type=Path, default=REPO_ROOT / "tests")
    args = parser.parse_args()
    sys.path.insert(0, str(args.server_from))
    import dbt_forkserver

    server, wall, cpu = _timed(dbt_forkserver.Server)
    print(f"server start: {wall:.1f} s wall, {cpu:.1f} CPU-s")
    cpus = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for n in range(args.parses):
                state = Path(scratch) / f"state{n}"
                _, wall, cpu = _timed(
                    subprocess.run,
                    [str(server.launcher), "parse", "--quiet", "--vars",
                     json.dumps({"state_dir": str(state)}), "--target-path",
                     str(state / "target"), "--log-path", str(state / "logs")],
                    cwd=DBT_PROJECT_DIR, env={**os.environ, "DO_NOT_TRACK": "1"}, check=True,
                )  # fmt: skip
                cpus.append(cpu)
                print(f"full parse {n + 1}: {wall:.1f} s wall, {cpu:.1f} CPU-s")
    finally:
        server.stop()
    print(f"median full parse: {statistics.median(cpus):.1f} CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
