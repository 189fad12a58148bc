"""Benchmark: generate N events, full build, one-day incremental, chart queries; one table.

Run with the pipeline environment from the repository root:

    .venv/bin/python benchmarks/harness.py --events 10000000 --days 30

Phases are timed from the Dagster event log of each run (step start to step end); peak memory
is the largest sum of resident memory over the CLI's process tree, sampled every 0.2 s (printed
with each process's share at that sample). Chart
queries are the SQL that Superset generates for every chart of the five dashboards (asked from
a Superset server with ``result_type: query``), timed directly against the published warehouse.
The floor is one hand-written DuckDB query computing daily sessions from the landing files.

The engine is the pipeline's (``SBM_ENGINE``, inherited by every run): ``SBM_ENGINE=spark``
measures the same runs built on Spark; peak memory then includes Spark's JVM.

With ``--scale 10000000,30000000`` it measures instead what one more day costs on top of each
history size: per size, a full build of the history and a one-day run, each day of the same size
(the smallest history has ``--days`` days, a larger one proportionally more), and one table with
a row per size and the ratio of the largest to the smallest.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
CHECK_STEPS = ("raw_quality",)  # the marts' rules are dbt tests, inside "dbt build"


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    steps: dict[str, float] = field(default_factory=dict)
    peak_by_process: dict[str, float] = field(default_factory=dict)  # MB at the peak, by name

    def peak_text(self) -> str:
        parts = sorted(self.peak_by_process.items(), key=lambda item: -item[1])
        return (
            f"{self.peak_rss_mb:,.0f} MB ("
            + ", ".join(f"{name} {mb:,.0f}" for name, mb in parts)
            + ")"
        )


def _process_name(pid: int) -> str:
    """A process's program: `dbt` or `servisbot-metrics` rather than `python`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    names = [Path(a.decode(errors="replace")).name for a in argv if a]
    if names and names[0].startswith("python"):  # the script it runs
        if "-c" in names:  # e.g. multiprocessing's resource tracker
            return "python -c"
        names = [n for n in names[1:] if not n.startswith("-")] or names
    return names[0] if names else "?"


def _tree_rss_kb(root: int) -> dict[int, int]:
    """Resident memory (kB) of `root` and each of its descendants, from /proc."""
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
    tree, stack = {}, [root]
    while stack:
        pid = stack.pop()
        tree[pid] = rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return tree


def _measure(command: list[str], log: Path) -> Measured:
    peak, at_peak = 0, dict[str, int]()
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, at_peak
            while not done.wait(0.2):
                tree = _tree_rss_kb(proc.pid)
                total = sum(tree.values())
                if total > peak:
                    peak, at_peak = total, {}
                    for pid, kb in tree.items():
                        name = _process_name(pid)
                        at_peak[name] = at_peak.get(name, 0) + kb

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    if code != 0:
        sys.exit(f"benchmark: {' '.join(command)} exited {code}; see {log}")
    by_process = {name: kb / 1024 for name, kb in at_peak.items()}
    return Measured(time.monotonic() - started, peak / 1024, peak_by_process=by_process)


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


@dataclass
class Trial:
    """One run of the whole benchmark: generate, full build, one day, floor."""

    events: int
    last_day: int
    days: int
    generate: Measured
    full: Measured
    one_day: Measured
    floor_s: float
    warehouse_mb: float


def _trial(
    work: Path, events_wanted: int, days_wanted: int, last_day: dt.date, floor: bool = True
) -> Trial:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "harness.log"
    generated, landing = work / "generated", work / "landing"
    gen = _measure(
        [str(BIN / "servisbot-metrics"), "generate", "--out", str(generated), "--events",
         str(events_wanted), "--days", str(days_wanted), "--start-date",
         (last_day - dt.timedelta(days=days_wanted - 1)).isoformat()],
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
    warehouse = work / "warehouse.duckdb"
    full = _run(landing, warehouse, log)
    (landing / days[-1]).symlink_to(generated / days[-1])
    one_day = _run(landing, warehouse, log)
    return Trial(
        events, last_day, len(days), gen, full, one_day,
        _floor(generated) if floor else float("nan"), warehouse.stat().st_size / 1e6,
    )  # fmt: skip


def _rounded(steps: dict[str, float]) -> str:
    return json.dumps({name: round(seconds, 1) for name, seconds in steps.items()})


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _table(trials: list[Trial]) -> list[tuple[str, str, str]]:
    """Medians over the trials; each time row also shows every trial's value."""
    rows: list[tuple[str, str, str]] = []

    def phase(name: str, seconds: list[float], events: int) -> None:
        value = _median(seconds)
        each = " / ".join(f"{s:.1f}" for s in seconds)
        rows.append((name, f"{value:8.1f} s", f"{events / value:12,.0f} events/s   ({each})"))

    first = trials[0]
    full_events = first.events - first.last_day
    phase("generate", [t.generate.wall_s for t in trials], first.events)
    for label, steps in (
        ("ingest", ("raw_layer",)),
        ("dbt build", ("dbt_models",)),
        ("checks (GX)", CHECK_STEPS),
        ("publish", ("warehouse__published",)),
    ):
        phase(
            f"full: {label}",
            [sum(t.full.steps.get(s, 0.0) for s in steps) for t in trials],
            full_events,
        )
    phase("full: end to end", [t.full.wall_s for t in trials], full_events)
    phase("one day: end to end", [t.one_day.wall_s for t in trials], first.last_day)
    floor = _median([t.floor_s for t in trials])
    full = _median([t.full.wall_s for t in trials])
    rows.append(
        ("floor (one DuckDB query)", f"{floor:8.1f} s", f"full = {full / floor:.0f}x floor")
    )
    peaks = [max(t.full.peak_rss_mb, t.one_day.peak_rss_mb) for t in trials]
    rows.append(
        (
            "peak memory (process tree)",
            f"{_median(peaks):8.0f} MB",
            f"({' / '.join(f'{p:.0f}' for p in peaks)})",
        )
    )
    rows.append(("published warehouse", f"{_median([t.warehouse_mb for t in trials]):8.1f} MB", ""))
    return rows


SCALE_COLUMNS = (
    ("history", "events"),
    ("days", ""),
    ("last day", "events"),
    ("full", "s"),
    ("one day", "s"),
    ("1d ingest", "s"),
    ("1d dbt", "s"),
    ("1d publish", "s"),
    ("peak full", "MB"),
    ("peak 1 day", "MB"),
)


def _scale_values(trials: list[Trial]) -> list[float]:
    """One history size's row: medians over its trials, in SCALE_COLUMNS' order."""

    def step(name: str) -> float:
        return _median([t.one_day.steps.get(name, 0.0) for t in trials])

    return [
        _median([t.events - t.last_day for t in trials]),
        _median([t.days - 1 for t in trials]),
        _median([t.last_day for t in trials]),
        _median([t.full.wall_s for t in trials]),
        _median([t.one_day.wall_s for t in trials]),
        step("raw_layer"),
        step("dbt_models"),
        step("warehouse__published"),
        _median([t.full.peak_rss_mb for t in trials]),
        _median([t.one_day.peak_rss_mb for t in trials]),
    ]


def _scale_table(by_size: list[list[Trial]]) -> list[list[str]]:
    """A row per history size, then the ratio of the largest history's row to the smallest's."""
    rows = [_scale_values(trials) for trials in by_size]
    text = [[f"{v:,.0f}" if unit in ("events", "", "MB") else f"{v:.1f}" for v, (_, unit) in
             zip(row, SCALE_COLUMNS, strict=True)] for row in rows]  # fmt: skip
    smallest, largest = rows[0], rows[-1]
    text.append([f"{b / a:.2f}x" if a else "-" for a, b in zip(smallest, largest, strict=True)])
    return text


def _scale(args: argparse.Namespace) -> int:
    sizes = sorted(int(size) for size in args.scale.split(","))
    by_size: list[list[Trial]] = []
    for size in sizes:
        # every history's days are the size of the smallest history's: only the history grows
        days = max(args.days, round(args.days * size / sizes[0]))
        trials = []
        for number in range(1, args.runs + 1):
            trial = _trial(args.work, size, days, args.end_date, floor=False)
            trials.append(trial)
            print(
                f"{size:,} events over {days} days, run {number}/{args.runs}: full "
                f"{trial.full.wall_s:.1f} s, one day ({trial.last_day:,} events) "
                f"{trial.one_day.wall_s:.1f} s, peak "
                f"{max(trial.full.peak_rss_mb, trial.one_day.peak_rss_mb):.0f} MB",
                flush=True,
            )
            print(f"  steps, full run: {_rounded(trial.full.steps)}")
            print(f"  steps, one day:  {_rounded(trial.one_day.steps)}")
            print(f"  peak, full run: {trial.full.peak_text()}")
            print(f"  peak, one day:  {trial.one_day.peak_text()}")
        by_size.append(trials)
    header = ["", *(name + (f" ({unit})" if unit else "") for name, unit in SCALE_COLUMNS)]
    table = [["", *row] for row in _scale_table(by_size)]
    table[-1][0] = "largest/smallest"
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    print(
        f"\na day's cost vs history: medians of {args.runs} run(s) per size; the one-day run "
        "adds the last day to a full build of the days before it\n"
    )
    for row in [header, *table]:
        print(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1),
        metavar="YYYY-MM-DD",
        help="the last generated day, the one the one-day run adds (default yesterday, so the "
        "dashboards' last 30 days cover the data); a day's traffic depends on its weekday",
    )
    parser.add_argument("--runs", type=int, default=3, help="trials; the table shows medians")
    parser.add_argument("--work", type=Path, default=Path("/tmp/servisbot-metrics-bench"))
    parser.add_argument("--repeat", type=int, default=20, help="runs of each chart query")
    parser.add_argument("--no-charts", action="store_true", help="skip the Superset part")
    parser.add_argument(
        "--charts-only",
        action="store_true",
        help="only time the chart queries of --work's warehouse",
    )
    parser.add_argument(
        "--scale",
        metavar="N,N,...",
        help="instead: a day's cost vs history, for each history size N (events); the "
        "smallest has --days days, larger ones more days of the same size; no charts",
    )
    args = parser.parse_args(argv)

    if args.scale:
        return _scale(args)
    warehouse = args.work / "warehouse.duckdb"
    if args.charts_only:
        _print_charts(_time_queries(warehouse, _chart_sql(warehouse, args.work), args.repeat))
        return 0
    trials = []
    for number in range(1, args.runs + 1):
        trial = _trial(args.work, args.events, args.days, args.end_date)
        trials.append(trial)
        print(
            f"run {number}/{args.runs}: generate {trial.generate.wall_s:.1f} s, full "
            f"{trial.full.wall_s:.1f} s, one day {trial.one_day.wall_s:.1f} s, peak "
            f"{max(trial.full.peak_rss_mb, trial.one_day.peak_rss_mb):.0f} MB",
            flush=True,
        )
        print(f"  steps, full run: {_rounded(trial.full.steps)}")
        print(f"  steps, one day:  {_rounded(trial.one_day.steps)}")
        print(f"  peak, full run: {trial.full.peak_text()}")
        print(f"  peak, one day:  {trial.one_day.peak_text()}")
    rows = _table(trials)
    if not args.no_charts:  # on the last run's warehouse; each query is timed --repeat times
        rows += _chart_rows(_time_queries(warehouse, _chart_sql(warehouse, args.work), args.repeat))
    first = trials[0]
    print(
        f"\n{first.events:,} events over {first.days} days ({first.last_day:,} in the last "
        f"day); medians of {len(trials)} run(s)\n"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value}  {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
