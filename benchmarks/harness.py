"""Benchmark: generate N events, full build, one-day incremental, chart queries; one table.

Run with the pipeline environment from the repository root:

    .venv/bin/python benchmarks/harness.py --events 10000000 --days 30

Phases are timed from the Dagster event log of each run (step start to step end); peak memory
is the largest sum of resident memory over the CLI's process tree, sampled every 0.2 s. Chart
queries are the SQL that Superset generates for every chart of the five dashboards (asked from
a Superset server with ``result_type: query``), timed directly against the published warehouse.
The floor is one hand-written DuckDB query computing daily sessions from the landing files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SUPERSET_PYTHON = REPO / "superset" / ".venv" / "bin" / "python"
PROVISION = REPO / "superset" / "provision.py"
CHECK_STEPS = ("raw_quality", "mart_quality")


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    steps: dict[str, float] = field(default_factory=dict)


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry.name), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _measure(command: list[str], log: Path) -> Measured:
    peak = 0
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.2):
                peak = max(peak, _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    if code != 0:
        sys.exit(f"benchmark: {' '.join(command)} exited {code}; see {log}")
    return Measured(time.monotonic() - started, peak / 1024)


def _step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds per step of the newest run in this Dagster instance."""
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    (record,) = instance.get_run_records(limit=1)
    starts: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(record.dagster_run.run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds[entry.step_key] = entry.timestamp - starts[entry.step_key]
    return seconds


def _run(landing: Path, warehouse: Path, log: Path) -> Measured:
    measured = _measure(
        [str(BIN / "servisbot-metrics"), "run", "--landing", str(landing), "--warehouse",
         str(warehouse)],
        log,
    )  # fmt: skip
    measured.steps = _step_seconds(warehouse.with_name(f"{warehouse.stem}.state") / "dagster")
    return measured


FLOOR_SQL = """
WITH messages AS (
    SELECT json->>'visitor_id' AS visitor,
           try_cast(json->>'occurred_at' AS TIMESTAMPTZ) AS occurred
    FROM read_ndjson_objects('{glob}', ignore_errors = true)
    WHERE json->>'event_type' = 'user_message'
), marked AS (
    SELECT occurred,
           coalesce(occurred - lag(occurred) OVER (PARTITION BY visitor ORDER BY occurred)
                    > INTERVAL 10 MINUTE, true) AS is_start
    FROM messages
)
SELECT CAST(occurred AS DATE) AS day, count(*) AS sessions FROM marked WHERE is_start GROUP BY 1
"""


def _floor(landing: Path) -> float:
    """One hand-written query: daily sessions (10-minute inactivity) straight from NDJSON."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = time.monotonic()
    con.execute(FLOOR_SQL.format(glob=f"{landing}/*/*.ndjson*")).fetchall()
    return time.monotonic() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chart_sql(warehouse: Path, work: Path) -> dict[str, str]:
    """Every chart's SQL as Superset generates it, from a server over the published copy."""
    state = work / "superset"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(SUPERSET_STATE_DIR=str(state), WAREHOUSE_PATH=str(warehouse))
    log = work / "superset.log"
    with log.open("ab") as out:
        subprocess.run([str(SUPERSET_PYTHON), str(PROVISION), "setup"], env=env, stdout=out,
                       stderr=subprocess.STDOUT, check=True)  # fmt: skip
        port = _free_port()
        server = subprocess.Popen(
            [str(SUPERSET_PYTHON), str(PROVISION), "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(base + "/health", timeout=5).text == "OK":
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(f"benchmark: Superset did not start; see {log}")
            time.sleep(0.5)
        session = requests.Session()
        password = (state / "admin_password").read_text().strip()
        token = session.post(
            base + "/api/v1/security/login",
            json={"username": "admin", "password": password, "provider": "db", "refresh": False},
            timeout=60,
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        charts = session.get(
            base + "/api/v1/chart/", params={"q": "(page_size:100)"}, timeout=60
        ).json()["result"]
        queries: dict[str, str] = {}
        for chart in charts:
            detail = session.get(f"{base}/api/v1/chart/{chart['id']}", timeout=60).json()
            context = json.loads(detail["result"]["query_context"])
            context.update(result_type="query", force=True)
            result = session.post(base + "/api/v1/chart/data", json=context, timeout=120)
            result.raise_for_status()
            statements = [r["query"] for r in result.json()["result"]]
            queries[chart["slice_name"]] = ";\n".join(statements)
        return queries
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _time_queries(warehouse: Path, queries: dict[str, str], repeat: int) -> dict[str, list[float]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    timings: dict[str, list[float]] = {}
    for name, sql in queries.items():
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            for statement in filter(str.strip, sql.split(";\n")):
                con.execute(statement).fetchall()
            runs.append(time.perf_counter() - started)
        timings[name] = runs
    return timings


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _chart_rows(timings: dict[str, list[float]]) -> list[tuple[str, str, str]]:
    every = [t for runs in timings.values() for t in runs]
    worst = max(timings, key=lambda name: _pct(timings[name], 0.95))
    return [
        ("chart queries p50", f"{_pct(every, 0.5) * 1000:8.1f} ms", f"{len(timings)} charts"),
        ("chart queries p95", f"{_pct(every, 0.95) * 1000:8.1f} ms", ""),
        (
            "slowest chart p95",
            f"{_pct(timings[worst], 0.95) * 1000:8.1f} ms",
            worst,
        ),
    ]


def _print_charts(timings: dict[str, list[float]]) -> None:
    for name, runs in sorted(timings.items(), key=lambda item: -_pct(item[1], 0.95)):
        print(
            f"{_pct(runs, 0.5) * 1000:8.1f} ms p50  {_pct(runs, 0.95) * 1000:8.1f} ms p95  {name}"
        )
    for row in _chart_rows(timings):
        print("  ".join(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/servisbot-metrics-bench"))
    parser.add_argument("--repeat", type=int, default=20, help="runs of each chart query")
    parser.add_argument("--no-charts", action="store_true", help="skip the Superset part")
    parser.add_argument(
        "--charts-only",
        action="store_true",
        help="only time the chart queries of --work's warehouse",
    )
    args = parser.parse_args(argv)

    if args.charts_only:
        warehouse = args.work / "warehouse.duckdb"
        _print_charts(_time_queries(warehouse, _chart_sql(warehouse, args.work), args.repeat))
        return 0
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    log = args.work / "harness.log"
    generated, landing = args.work / "generated", args.work / "landing"
    gen = _measure(
        [str(BIN / "servisbot-metrics"), "generate", "--out", str(generated), "--events",
         str(args.events), "--days", str(args.days)],  # the last DAYS days: charts show 30
        log,
    )  # fmt: skip
    days = sorted(p.name for p in generated.iterdir() if p.is_dir())
    landing.mkdir()
    for day in days[:-1]:
        (landing / day).symlink_to(generated / day)
    with duckdb.connect() as con:
        (events,) = con.execute(
            f"SELECT count(*) FROM read_ndjson_objects('{generated}/*/*.ndjson*', "
            "ignore_errors=true)"
        ).fetchone()
        (last_day,) = con.execute(
            f"SELECT count(*) FROM read_ndjson_objects('{generated}/{days[-1]}/*.ndjson*', "
            "ignore_errors=true)"
        ).fetchone()
    warehouse = args.work / "warehouse.duckdb"
    full = _run(landing, warehouse, log)
    (landing / days[-1]).symlink_to(generated / days[-1])
    incremental = _run(landing, warehouse, log)
    floor = _floor(generated)

    rows: list[tuple[str, str, str]] = []

    def phase(name: str, seconds: float, count: int) -> None:
        rows.append((name, f"{seconds:8.1f} s", f"{count / seconds:12,.0f} events/s"))

    phase("generate", gen.wall_s, events)
    full_events = events - last_day
    phase("full: ingest", full.steps.get("raw_layer", 0.0), full_events)
    phase("full: dbt build", full.steps.get("dbt_models", 0.0), full_events)
    phase("full: checks (GX)", sum(full.steps.get(s, 0.0) for s in CHECK_STEPS), full_events)
    phase("full: publish", full.steps.get("warehouse__published", 0.0), full_events)
    phase("full: end to end", full.wall_s, full_events)
    phase("one day: end to end", incremental.wall_s, last_day)
    rows.append(
        ("floor (one DuckDB query)", f"{floor:8.1f} s", f"full = {full.wall_s / floor:.0f}x floor")
    )
    rows.append(
        (
            "peak memory (process tree)",
            f"{max(full.peak_rss_mb, incremental.peak_rss_mb):8.0f} MB",
            "",
        )
    )
    rows.append(("published warehouse", f"{warehouse.stat().st_size / 1e6:8.1f} MB", ""))
    if not args.no_charts:
        timings = _time_queries(warehouse, _chart_sql(warehouse, args.work), args.repeat)
        rows += _chart_rows(timings)
    print(f"\n{events:,} events over {len(days)} days ({last_day:,} in the last day)\n")
    width = max(len(r[0]) for r in rows)
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value}  {detail}")
    print(f"\nsteps, full run: {json.dumps({k: round(v, 1) for k, v in full.steps.items()})}")
    print(f"steps, one day:  {json.dumps({k: round(v, 1) for k, v in incremental.steps.items()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
