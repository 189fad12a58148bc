"""Chart latency while runs publish: readers of the published warehouse, with and without a
publish going on.

Half of --readers post the saved query context of every dashboard chart in turn to Superset's
chart-data API (``force: true``: no cache), the other half open the warehouse read-only in
DuckDB per query (as Superset does) and read a count with ``marts.publish_info``. First
--duration seconds with no publish (skip with --no-baseline), then --duration seconds while
``servisbot-metrics run --full-refresh`` republishes --warehouse back to back (the last run is
finished, so that phase can be longer). Prints, per phase and reader kind: requests, errors,
p50 / p95 / max latency, how many publishes the answers came from and how many were stale
(from an older publish than one already in place when the query started), then the charts
with the highest p95 under publishing. Exits 1 if a query failed or an answer did not match
what its publish published.

    .venv/bin/python benchmarks/readers_under_load.py --landing data/landing \\
        --warehouse data/warehouse.duckdb --config data/metrics-config.yaml

Without --superset-url it provisions and serves its own Superset over --warehouse in --work
(as tests/test_superset_readers.py does); with it, it logs in to that server as
--superset-user (password from SUPERSET_PASSWORD, else the file <--superset-state>/<user>_password),
which must read the same --warehouse. The runs rebuild --warehouse from --landing: the same
numbers, a new publish.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the readers and the server helpers the tests use

from readers_load import (  # noqa: E402
    Answer,
    Load,
    Publication,
    Reading,
    chart_reader,
    dashboard_charts,
    duckdb_reader,
    mismatches,
    read_publication,
    slowest,
    stats,
    table,
)
from superset_server import Superset, running_superset  # noqa: E402

SBM = str(Path(sys.executable).parent / "servisbot-metrics")


def _publish_until(
    deadline: float, command: list[str], warehouse: Path, publications: list[Publication]
) -> list[str]:
    """Runs `command` back to back until `deadline`; records each publish. Returns failures."""
    failures = []
    while time.monotonic() < deadline:
        started = time.monotonic()
        result = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"}
        )
        if result.returncode != 0:
            failures.append(result.stderr.strip().splitlines()[-1] if result.stderr else "?")
            continue
        publications.append(read_publication(warehouse))
        print(f"  published in {time.monotonic() - started:.1f}s", flush=True)
    return failures


def _phase(
    name: str,
    readers: list[tuple[str, Callable[[int], Reading]]],
    warehouse: Path,
    duration: float,
    command: list[str] | None,
    pause: float,
) -> tuple[list[Answer], list[Publication], list[str]]:
    print(f"{name}: {len(readers)} readers for {duration:.0f}s", flush=True)
    publications = [read_publication(warehouse)]
    failures: list[str] = []
    load = Load()
    with load.reading(readers, pause):
        if command is None:
            time.sleep(duration)
        else:
            deadline = time.monotonic() + duration
            publisher = threading.Thread(
                target=lambda: failures.extend(
                    _publish_until(deadline, command, warehouse, publications)
                )
            )
            publisher.start()
            publisher.join()
            time.sleep(1.0)  # a last round of answers from the last publish
    return load.answers, publications, failures


def _report(name: str, answers: list[Answer], publications: list[Publication]) -> list[str]:
    print(f"\n{name} ({len(publications) - 1} publishes)")
    print(table(stats(answers, publications)))
    return mismatches(answers, publications)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
    )
    parser.add_argument("--landing", type=Path, required=True, help="landing folder of the runs")
    parser.add_argument("--warehouse", type=Path, required=True, help="published DuckDB file")
    parser.add_argument("--config", type=Path, help="metrics configuration of the runs")
    parser.add_argument("--superset-url", help="a running Superset (default: start one)")
    parser.add_argument("--superset-user", default="admin", help="user for the chart readers")
    parser.add_argument(
        "--superset-state", type=Path, default=REPO / "data" / "superset",
        help="its state folder, for the generated password file (default data/superset)",
    )  # fmt: skip
    parser.add_argument("--work", type=Path, help="folder for our own Superset (default: temp)")
    parser.add_argument("--readers", type=int, default=16, help="readers, half each kind (16)")
    parser.add_argument("--duration", type=float, default=60, help="seconds per phase (60)")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="think time of a reader between queries (0 s)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-publish phase")
    args = parser.parse_args(argv)
    if args.readers < 2:
        parser.error("--readers must be at least 2")
    warehouse = args.warehouse.resolve()
    if not warehouse.exists():
        parser.error(f"{warehouse} does not exist: publish it first (servisbot-metrics run)")
    command = [SBM, "run", "--landing", str(args.landing), "--warehouse", str(warehouse),
               "--full-refresh"]  # fmt: skip
    if args.config:
        command += ["--config", str(args.config)]

    def measure(admin: Superset) -> int:
        charts = dashboard_charts(admin)
        clients = [admin.login(args.superset_user, password) for _ in range(args.readers // 2)]
        readers: list[tuple[str, Callable[[int], Reading]]] = [
            ("chart-data", chart_reader(c, charts[n:] + charts[:n])) for n, c in enumerate(clients)
        ]
        readers += [("duckdb", duckdb_reader(warehouse))] * (args.readers - len(clients))
        print(f"{len(charts)} charts; runs: {' '.join(command)}", flush=True)
        problems: list[str] = []
        if not args.no_baseline:
            answers, publications, _ = _phase(
                "no publish", readers, warehouse, args.duration, None, args.pause
            )
            problems += _report("no publish", answers, publications)
        answers, publications, failures = _phase(
            "publishing", readers, warehouse, args.duration, command, args.pause
        )
        problems += _report("while publishing", answers, publications)
        print("\nslowest charts while publishing (p95)")
        print(slowest([a for a in answers if a.kind == "chart-data"]))
        errors = [a.error for a in answers if a.error]
        for line in [*failures, *problems, *errors][:10]:
            print(f"problem: {line}", file=sys.stderr)
        return 1 if failures or problems or errors else 0

    password = os.environ.get("SUPERSET_PASSWORD") or None
    if args.superset_url:
        state = args.superset_state.resolve()
        if password is None:
            password = (state / f"{args.superset_user}_password").read_text().strip()
        admin = Superset(args.superset_url.rstrip("/"), state, warehouse, state / "superset.log")
        return measure(admin.login(args.superset_user, password))
    with tempfile.TemporaryDirectory(prefix="readers-bench-") as temp:
        work = (args.work or Path(temp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        with running_superset(warehouse, work) as admin:
            password = admin.password(args.superset_user)
            return measure(admin)


if __name__ == "__main__":
    sys.exit(main())
