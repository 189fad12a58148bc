"""The `servisbot-metrics` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from orchestration.settings import (
    DEFAULT_MAX_REJECT_RATIO,
    SettingsError,
    max_reject_ratio_from_env,
)

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


def _day(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value}") from None


def _ratio(value: str) -> float:
    try:
        ratio = float(value)
    except ValueError:
        ratio = -1.0
    if not 0 <= ratio <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {value}")
    return ratio


def _warehouse_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--landing",
        type=Path,
        required=True,
        metavar="DIR",
        help="landing folder with YYYY-MM-DD/*.ndjson[.gz] files",
    )
    command.add_argument(
        "--warehouse",
        type=Path,
        required=True,
        metavar="FILE",
        help="published DuckDB warehouse (created on the first run)",
    )
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="metrics configuration document, JSON or YAML (default: built-in)",
    )
    command.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where run state lives (default: <warehouse stem>.state beside FILE)",
    )
    command.add_argument(
        "--max-reject-ratio",
        type=_ratio,
        metavar="R",
        help="data-quality gate: a delivery day rejecting a larger share of its lines blocks "
        f"the publish (default {DEFAULT_MAX_REJECT_RATIO}, or SBM_MAX_REJECT_RATIO)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servisbot-metrics",
        description="Bot metrics from raw messenger events: ingest, dbt marts, published DuckDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="process what is new in the landing folder into the warehouse",
        description="Ingest new landing files, rebuild the marts, check them and publish the "
        "warehouse atomically. Exits 0 only when the published warehouse is complete.",
    )
    _warehouse_arguments(run)
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from the whole raw layer (automatic when the configuration "
        "or the dbt code changed)",
    )

    backfill = sub.add_parser(
        "backfill",
        help="re-ingest a range of delivery days, then rebuild and publish",
        description="Re-read the landing files of every delivery day from FIRST to LAST (both "
        "included) even when unchanged, then build, check and publish. Re-running a day "
        "changes nothing; a re-delivered day replaces what the warehouse had for it.",
    )
    _warehouse_arguments(backfill)
    backfill.add_argument(
        "--from", dest="first", type=_day, required=True, metavar="FIRST", help="YYYY-MM-DD"
    )
    backfill.add_argument(
        "--to", dest="last", type=_day, required=True, metavar="LAST", help="YYYY-MM-DD"
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
    try:  # before the definitions are imported: they read the same setting
        from_env = max_reject_ratio_from_env()
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_FAILED
    from orchestration.instance import InstanceConfigError
    from orchestration.metrics_config import ConfigError
    from orchestration.runner import RunError, backfill_pipeline, run_pipeline

    started = time.monotonic()
    common = {
        "config": args.config,
        "state_dir": args.state_dir,
        "log": _progress,
        "max_reject_ratio": from_env if args.max_reject_ratio is None else args.max_reject_ratio,
    }
    try:
        if args.command == "backfill":
            summary = backfill_pipeline(
                args.landing, args.warehouse, args.first, args.last, **common
            )
        else:
            summary = run_pipeline(
                args.landing, args.warehouse, full_refresh=args.full_refresh, **common
            )
    except (RunError, ConfigError, InstanceConfigError) as exc:
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
        return _generate(args) if args.command == "generate" else _run(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
