"""The publish alone, against a real build database: a full publish, one with nothing changed and
one after a one-day change, with the fact tables as Parquet versions (the default) and with
every table copied into the file (`partitioned=()`, the publish before Parquet versions).

    .venv/bin/python benchmarks/publish_change.py --build /tmp/pub-wh/warehouse.state/build.duckdb \
        --work /tmp/pub-bench/change

The one-day change is made on a copy of the build database: 10% of the last day's rows of every
fact table deleted (the build database itself is only read). Each warehouse is left in
`--work/<mode>/warehouse.duckdb`, for `harness.py --charts-only --work --work/<mode>`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import duckdb

from orchestration.publish import PARTITIONED, publish
from orchestration.settings import PUBLISHED_SCHEMAS
from orchestration.state import PublishStamp

STAMP = PublishStamp("2026-11-30T00:00:00+00:00", *"c1drbgp")


def _changed_copy(build: Path, target: Path) -> str:
    shutil.copyfile(build, target)
    con = duckdb.connect(str(target))
    try:
        facts = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'marts' "
            "AND table_name LIKE 'fct\\_%' ESCAPE '\\' AND data_type = 'DATE'"
        ).fetchall()
        (day,) = con.execute(f"SELECT max({facts[0][1]}) FROM marts.{facts[0][0]}").fetchone()
        for table, column in facts:
            con.execute(f"DELETE FROM marts.{table} WHERE {column} = ? AND random() < 0.1", [day])
    finally:
        con.close()
    return str(day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    changed = args.work / "build-changed.duckdb"
    day = _changed_copy(args.build, changed)
    print(f"one-day change: 10% of {day}'s fact rows deleted")
    for mode, partitioned in (("copy", ()), ("parquet", PARTITIONED)):
        times: dict[str, list[float]] = {}
        for _ in range(args.runs):
            shutil.rmtree(args.work / mode, ignore_errors=True)
            warehouse = args.work / mode / "warehouse.duckdb"
            for step, build in (("full", args.build), ("nothing changed", args.build),
                                ("one day changed", changed)):  # fmt: skip
                started = time.perf_counter()
                result = publish(build, warehouse, PUBLISHED_SCHEMAS, STAMP, partitioned)
                times.setdefault(step, []).append(time.perf_counter() - started)
                times.setdefault(f"{step}: written/linked", []).append(result.written)
        size = warehouse.stat().st_size / 1e6
        print(f"{mode}: file {size:.1f} MB, last written/linked {result.written}/{result.linked}")
        for step, values in times.items():
            if "written" not in step:
                runs = " / ".join(f"{v:.2f}" for v in values)
                print(f"  {step:18s} median {statistics.median(values):6.2f} s  ({runs})")


if __name__ == "__main__":
    main()
