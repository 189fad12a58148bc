"""Benchmark: unique-impression windows for devices with thousands of impressions.

Builds a raw layer where a few devices each load the page N times over D days (plus the demo-like
long tail), then times a full `dbt run` of int_impressions and checks it against a sequential
Python walk of the rule. Usage:

    .venv/bin/python scripts/bench_unique_impressions.py [--impressions 5000] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from orchestration.metrics_config import default, parse_config
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR


def _raw_layer(raw: Path, heavy: int, impressions: int, days: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00.000")
    span_ms = days * 86_400_000
    rows = []
    for device in range(heavy):
        offsets = np.sort(rng.integers(0, span_ms, impressions))
        rows += [(f"heavy{device}", int(o)) for o in offsets]
    for device in range(20_000):  # long tail: a handful of impressions each
        offsets = rng.integers(0, span_ms, rng.integers(1, 6))
        rows += [(f"tail{device}", int(o)) for o in offsets]
    con = duckdb.connect()
    con.execute("create table r(visitor_id varchar, offset_ms bigint)")
    con.executemany("insert into r values (?, ?)", rows)
    (raw / "events" / "2026-01-01").mkdir(parents=True)
    con.execute(f"""
        copy (
            select 'i' || row_number() over () as event_id, 'impression' as event_type,
                timestamp '{start}' + to_milliseconds(offset_ms) as occurred_at,
                timestamp '{start}' + to_milliseconds(offset_ms) as received_at,
                'org' as organization, 'bot' as bot, visitor_id,
                null::varchar as conversation_id, null::varchar as channel,
                null::varchar as page_url, '{{}}' as properties, 'bench' as source_file,
                row_number() over () as line_number, date '2026-01-01' as delivery_date,
                now()::timestamp as ingested_at
            from r
        ) to '{raw}/events/2026-01-01/events.parquet' (format parquet)""")


def _sequential(db: Path, window_hours: int) -> int:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "select visitor_id, occurred_at from staging.stg_messenger__events "
        "where event_type = 'impression' order by visitor_id, occurred_at, event_id"
    ).fetchall()
    unique, current, window_end = 0, None, None
    for visitor, at in rows:
        if visitor != current or at >= window_end:
            current, window_end, unique = visitor, at + dt.timedelta(hours=window_hours), unique + 1
    return unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heavy-devices", type=int, default=5)
    parser.add_argument("--impressions", type=int, default=5000, help="per heavy device")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--window-hours", type=int, default=default("impressions.uniqueWindowHours")
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        _raw_layer(state / "raw", args.heavy_devices, args.impressions, args.days)
        config = parse_config({"impressions": {"uniqueWindowHours": args.window_hours}})
        dbt_vars = json.dumps({"state_dir": str(state), **config.dbt_vars()})
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        base = [
            DBT_EXECUTABLE,
            "run",
            "--vars",
            dbt_vars,
            "--target-path",
            str(state / "t"),
            "--log-path",
            str(state / "l"),
            "--full-refresh",
        ]
        subprocess.run(
            [*base, "-s", "stg_messenger__events"],
            cwd=DBT_PROJECT_DIR,
            env=env,
            check=True,
            capture_output=True,
        )
        timings = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            out = subprocess.run(
                [*base, "-s", "int_impressions"],
                cwd=DBT_PROJECT_DIR,
                env=env,
                capture_output=True,
                text=True,
            )
            timings.append(time.perf_counter() - began)
            if out.returncode:
                raise SystemExit(out.stdout[-3000:])
            model = [line for line in out.stdout.splitlines() if "int_impressions" in line][-1]
        con = duckdb.connect(str(state / "build.duckdb"), read_only=True)
        got = con.execute(
            "select count(*), count(*) filter (where is_unique) from intermediate.int_impressions"
        ).fetchone()
        con.close()
        expected = _sequential(state / "build.duckdb", args.window_hours)
        print(f"impressions={got[0]:,} unique={got[1]:,} (sequential walk: {expected:,})")
        print(
            f"dbt run -s int_impressions: median {statistics.median(timings):.2f}s of "
            f"{args.repeat} (includes dbt start-up); last: {model.split('[')[-1]}"
        )
        if got[1] != expected:
            raise SystemExit("MISMATCH between the SQL and the sequential walk")


if __name__ == "__main__":
    main()
