"""The `servisbot-metrics` command line."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from orchestration.settings import (
    MAX_REJECT_RATIO,
    SETTLE_SECONDS,
    SETTLE_WAIT_SECONDS,
    SettingsError,
    engine_from_env,
    max_reject_ratio_from_env,
    settle_seconds_from_env,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # argparse exits 2 on usage errors too


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
        return MAX_REJECT_RATIO.parse(value, name="R")
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("R ")) from None


_VERSIONED = ("servisbot-metrics", "dagster", "dbt-core", "dbt-duckdb", "duckdb")


def _version_text() -> str:
    """This package's version and those of the engines it runs, for a bug report."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    own, *engines = _VERSIONED
    return f"{own} {of(own)} ({', '.join(f'{name} {of(name)}' for name in engines)})"


class _VersionAction(argparse.Action):
    """--version: the versions are looked up only when asked (about 60 ms)."""

    def __init__(self, option_strings: list[str], dest: str) -> None:
        # as argparse's own "version" action: nothing added to the parsed arguments
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="print the versions and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(_version_text())
        parser.exit()


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
        help="metrics configuration document, JSON or YAML (default: the one apply_config_job "
        "wrote into the state folder, else the built-in defaults)",
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
        f"the publish (default {MAX_REJECT_RATIO.default:g}, or {MAX_REJECT_RATIO.env_var})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servisbot-metrics",
        description="Bot metrics from raw messenger events: ingest, dbt marts, published DuckDB.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="process what is new in the landing folder into the warehouse",
        description="Ingest new landing files, rebuild the marts, check them and publish the "
        "warehouse atomically. Exits 0 only when the published warehouse is complete. A "
        f"landing file changed in the last {SETTLE_SECONDS.env_var} (default "
        f"{SETTLE_SECONDS.default:g}) is still being written: the run waits until it has settled, "
        f"at most {SETTLE_WAIT_SECONDS.env_var} (default {SETTLE_WAIT_SECONDS.default:g}), "
        "else fails.",
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

    config = sub.add_parser(
        "config",
        help="check or print a metrics configuration document",
        description="The metrics configuration (JSON or YAML; schema: "
        "config/metrics-config.schema.json). A ServisBOT KPI dashboard JSON is accepted as "
        "exported, as the whole file or in kpiDashboards.",
    )
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    validate = config_sub.add_parser(
        "validate",
        help="check documents; every problem is printed with its key path",
        description="Check each FILE against the schema and the rules. Prints a summary per "
        "valid file; each problem as 'FILE: key.path: why' on stderr. Exit 1 if any is invalid.",
    )
    validate.add_argument("files", type=Path, nargs="+", metavar="FILE")
    show = config_sub.add_parser(
        "show",
        help="print the effective configuration, defaults filled in",
        description="Print FILE's effective configuration with every default filled in; with "
        "--warehouse, the configuration its published numbers were built with; with neither, "
        "the built-in defaults.",
    )
    show.add_argument("file", type=Path, nargs="?", metavar="FILE")
    show.add_argument("--warehouse", type=Path, metavar="FILE", help="a published warehouse")
    show.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="its state folder, if not the default"
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.add_argument(
        "--dbt-vars",
        action="store_true",
        help="print instead the dbt --vars (JSON) the pipeline builds with under this "
        "configuration; with --warehouse, its state_dir too (e.g. for `dbt docs generate`)",
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
    try:  # before the definitions are imported: they read the same settings
        from_env = max_reject_ratio_from_env()
        settle_seconds = settle_seconds_from_env()
        settle_wait_seconds = SETTLE_WAIT_SECONDS.from_env()
        engine = engine_from_env()
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
        "settle_seconds": settle_seconds,
        "settle_wait_seconds": settle_wait_seconds,
        "engine": engine,
    }
    try:
        # dbt's log lines, which dagster-dbt prints, are progress too
        with contextlib.redirect_stdout(sys.stderr):
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
    counts = ", ".join(f"{t}={n:,}" for t, n in summary.tables.items()) or "nothing published"
    _progress(
        f"done in {time.monotonic() - started:.1f}s: {len(summary.days_ingested)} of "
        f"{summary.days_seen} delivery day(s) ingested; {counts}"
    )
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from demo import generate

    try:
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
    except ValueError as exc:  # arguments it cannot honour (dates out of its range)
        _err(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _err(f"cannot write {exc.filename or args.out}: {exc.strerror}")
        return EXIT_FAILED
    by_type = ", ".join(f"{t}={n:,}" for t, n in result.events_by_type.items())
    _progress(
        f"wrote {result.files_written} files ({result.bytes_written / 1e6:.1f} MB) to "
        f"{result.out_dir} in {result.elapsed_seconds:.1f}s: {result.valid_events:,} events "
        f"({by_type}); dirt: {result.duplicate_lines:,} redelivered duplicates, "
        f"{result.late_events:,} late, {result.malformed_lines:,} malformed, "
        f"{result.blank_lines:,} blank lines"
    )
    return EXIT_OK


def _config_validate(files: list[Path]) -> int:
    from orchestration.metrics_config import ConfigError, load_config

    status = EXIT_OK
    for file in files:
        try:
            config = load_config(file)
        except ConfigError as exc:
            for problem in exc.errors:
                print(f"{file}: {problem}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        dashboards = len(config.document["kpiDashboards"])
        print(
            f"{file}: valid: {dashboards} KPI dashboard(s), {len(config.kpi_use_cases)} use "
            f"case(s); sessions expire after {config.session_inactivity_minutes} min, unique "
            f"impressions over {config.unique_window_hours} h, timezone {config.timezone} "
            f"(hash {config.content_hash})"
        )
    return status


def _config_show(args: argparse.Namespace) -> int:
    import json

    import yaml

    from orchestration.config_history import version_with_hash
    from orchestration.metrics_config import ConfigError, load_config, parse_config
    from orchestration.state import StateUnreadable, WarehousePaths, read_publish_stamp

    if args.file and args.warehouse:
        _err("give FILE or --warehouse, not both")
        return EXIT_FAILED
    try:
        document = load_config(args.file).document
    except ConfigError as exc:
        _err(f"{args.file}: {exc} (see: servisbot-metrics config validate {args.file})")
        return EXIT_FAILED
    if args.warehouse:
        if not args.warehouse.is_file():
            _err(f"warehouse not found: {args.warehouse}")
            return EXIT_FAILED
        paths = WarehousePaths.for_warehouse(args.warehouse, args.state_dir)
        # what the published numbers were built with (a newer version may not be built yet)
        try:
            stamp = read_publish_stamp(paths)
        except StateUnreadable as exc:
            _err(str(exc))
            return EXIT_FAILED
        version = version_with_hash(paths, stamp.config_hash) if stamp else None
        if version is None:
            _err(f"no configuration recorded for {args.warehouse} (not published by this tool?)")
            return EXIT_FAILED
        document = json.loads(version["content"])
    if args.dbt_vars:
        state = {"state_dir": str(paths.state)} if args.warehouse else {}
        print(json.dumps({**state, **parse_config(document).dbt_vars()}))
    elif args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "backfill" and args.first > args.last:
        parser.error(f"backfill range is empty: --from {args.first} is after --to {args.last}")
    try:
        if args.command == "config":
            if args.config_command == "validate":
                return _config_validate(args.files)
            return _config_show(args)
        return _generate(args) if args.command == "generate" else _run(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
