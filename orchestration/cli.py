"""The `servisbot-metrics` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1  # usage errors: argparse exits 2


def _err(message: str) -> None:
    print(f"servisbot-metrics: error: {message}", file=sys.stderr)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servisbot-metrics",
        description="Bot metrics from raw messenger events: ingest, dbt marts, published DuckDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="process what is new in the landing folder into the warehouse",
        description="Ingest new landing files, rebuild the marts and publish the warehouse "
        "atomically. Exits 0 only when the published warehouse is complete.",
    )
    run.add_argument(
        "--landing",
        type=Path,
        required=True,
        metavar="DIR",
        help="landing folder with YYYY-MM-DD/*.ndjson[.gz] files",
    )
    run.add_argument(
        "--warehouse",
        type=Path,
        required=True,
        metavar="FILE",
        help="published DuckDB warehouse (created on the first run)",
    )
    run.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="metrics configuration document, JSON or YAML (default: built-in)",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where run state lives (default: <warehouse stem>.state beside FILE)",
    )

    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from the whole raw layer (automatic when the configuration "
        "or the dbt code changed)",
    )

    gen = sub.add_parser(
        "generate",
        help="write synthetic landing files (demo and test data)",
        description="Write realistic synthetic messenger events as landing files.",
    )
    gen.add_argument("--out", type=Path, required=True, metavar="DIR", help="landing folder")
    gen.add_argument("--days", type=_positive, default=30, help="days of traffic (default 30)")
    gen.add_argument(
        "--events",
        type=_positive,
        default=300_000,
        help="approximate number of valid events (default 300000)",
    )
    gen.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    gen.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="first day (default: DAYS days before today, UTC)",
    )
    gen.add_argument("--gzip", action="store_true", help="write .ndjson.gz files")
    gen.add_argument(
        "--no-dirt", action="store_true", help="no duplicates, late arrivals or malformed lines"
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    from orchestration.metrics_config import ConfigError
    from orchestration.runner import RunError, run_pipeline

    started = time.monotonic()
    try:
        summary = run_pipeline(
            args.landing,
            args.warehouse,
            args.config,
            args.state_dir,
            log=_progress,
            full_refresh=args.full_refresh,
        )
    except (RunError, ConfigError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    counts = ", ".join(f"{t}={n:,}" for t, n in summary.tables.items())
    _progress(
        f"done in {time.monotonic() - started:.1f}s: {len(summary.days_ingested)} of "
        f"{summary.days_seen} delivery day(s) ingested; {counts}"
    )
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from ingest.synthetic import generate

    result = generate(
        args.out,
        days=args.days,
        events=args.events,
        seed=args.seed,
        start_date=args.start_date,
        gzip=args.gzip,
        dirt=not args.no_dirt,
        progress=_progress,
    )
    by_type = ", ".join(f"{t}={n:,}" for t, n in result.events_by_type.items())
    _progress(
        f"wrote {result.files_written} files ({result.bytes_written / 1e6:.1f} MB) to "
        f"{result.out_dir} in {result.elapsed_seconds:.1f}s: {result.valid_events:,} events "
        f"({by_type}); dirt: {result.duplicate_lines:,} redelivered duplicates, "
        f"{result.late_events:,} late, {result.malformed_lines:,} malformed, "
        f"{result.blank_lines:,} blank lines"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args = _parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _generate(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
