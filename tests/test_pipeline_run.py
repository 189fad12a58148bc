"""`servisbot-metrics run` end to end: real landing files -> Dagster -> dbt -> published DuckDB.

The marts are checked against an independent Python reading of the landing files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest
from conftest import (
    RUN_METADATA,
    Site,
    clone_site,
    copy_published,
    file_digest,
    query,
    sbm,
    table_rows,
)

from orchestration.planner import NOTHING_INGESTED
from orchestration.publish import MANIFEST, version_dirs

SESSION_TIMEOUT = dt.timedelta(minutes=10)
MAX_DURATION = dt.timedelta(minutes=1440)
UNIQUE_WINDOW = dt.timedelta(hours=24)
USAGE_COLUMNS = (
    "impressions",
    "unique_impressions",
    "engaged_unique_impressions",
    "conversations_started",
    "conversations",
    "sessions",
    "user_messages",
)
USER_SIDE = {"conversation_start", "user_message", "feedback"}


def _ts(value: str | int) -> dt.datetime:
    if isinstance(value, int):
        return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=value)
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).replace(tzinfo=None)


def _landing_lines(landing: Path, days: str = "*"):
    for path in sorted(landing.glob(f"{days}/*")):
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode()
        for number, raw in enumerate(text.split("\n"), start=1):
            yield f"{path.parent.name}/{path.name}", number, raw


def _accepted_lines(landing: Path, rejected: set[tuple[str, int]], days: str = "*"):
    """(source, line number, event) of every line the ingest accepted, duplicates included."""
    for source, number, raw in _landing_lines(landing, days):
        if raw.strip() and (source, number) not in rejected:
            yield source, number, json.loads(raw)


def _published_partitions(warehouse: Path, table: str, back: int = 0) -> dict[str, dict]:
    """The partitions of `table` in the manifest of the version published `back` publishes
    before the last one."""
    versions = sorted(version_dirs(warehouse).items())
    manifest = json.loads((versions[-1 - back][1] / MANIFEST).read_text())
    return manifest["tables"][table]["partitions"]


def oracle_events(landing: Path, rejected: set[tuple[str, int]]) -> list[dict]:
    """Valid events, de-duplicated (earliest received_at wins), straight from the files."""
    best: dict[str, tuple] = {}
    for source, number, event in _accepted_lines(landing, rejected):
        key = (_ts(event["received_at"]), source, number)
        if event["event_id"] not in best or key < best[event["event_id"]][0]:
            best[event["event_id"]] = (key, event)
    return [event for _, event in best.values()]


def oracle_usage(events: list[dict]) -> dict[tuple, dict[str, int]]:
    """Section 3 of the contract, walked event by event (UTC reporting dates, default policies)."""
    usage: dict[tuple, Counter] = defaultdict(Counter)
    names = {
        "impression": "impressions",
        "conversation_start": "conversations_started",
        "user_message": "user_messages",
    }
    conversations: dict[tuple, list] = defaultdict(list)
    impressions: dict[tuple, list] = defaultdict(list)
    starts: dict[tuple, list] = defaultdict(list)
    for e in events:
        occurred = _ts(e["occurred_at"])
        if e["event_type"] in names:
            usage[(occurred.date(), e["organization"], e["bot"])][names[e["event_type"]]] += 1
        if e["event_type"] in USER_SIDE:
            key = (e["organization"], e["bot"], e["conversation_id"])
            conversations[key].append((occurred, e["event_id"]))
        visitor = (e["organization"], e["bot"], e["visitor_id"])
        if e["event_type"] == "impression":
            impressions[visitor].append((occurred, e["event_id"]))
        if e["event_type"] == "conversation_start":
            starts[visitor].append(occurred)
    for (org, bot, _), activity in conversations.items():
        previous = conversation_start = None
        for occurred, _ in sorted(activity):
            if previous is None or occurred - previous >= SESSION_TIMEOUT:
                usage[(occurred.date(), org, bot)]["sessions"] += 1
                if conversation_start is None or occurred - conversation_start >= MAX_DURATION:
                    conversation_start = occurred
                    usage[(occurred.date(), org, bot)]["conversations"] += 1
            previous = occurred
    for (org, bot, visitor), trail in impressions.items():
        window_end = None
        for occurred, _ in sorted(trail):
            if window_end is None or occurred >= window_end:
                window_start, window_end = occurred, occurred + UNIQUE_WINDOW
                day = usage[(occurred.date(), org, bot)]
                day["unique_impressions"] += 1
                if any(window_start <= s < window_end for s in starts[(org, bot, visitor)]):
                    day["engaged_unique_impressions"] += 1
    return {k: dict(v) for k, v in usage.items()}


@pytest.fixture(scope="module")
def rejected(published_warehouse: Path) -> set[tuple[str, int]]:
    rows = query(published_warehouse, "SELECT source_file, line_number FROM audit.rejected_events")
    return set(rows)


def test_contract_tables_are_published(published_warehouse: Path):
    columns = query(
        published_warehouse,
        """
        SELECT table_schema || '.' || table_name, column_name, data_type
        FROM information_schema.columns""",
    )
    by_table = defaultdict(dict)
    for table, column, data_type in columns:
        by_table[table][column] = data_type
    assert by_table["marts.usage_daily"]["metric_date"] == "DATE"
    for column in USAGE_COLUMNS:
        assert column in by_table["marts.usage_daily"]
    assert {"matches"} <= set(by_table["marts.intent_daily"])
    assert {"calls", "failed_calls"} <= set(by_table["marts.api_daily"])
    assert {"starts", "successes", "failures", "abandons"} <= set(by_table["marts.kpi_daily"])
    for table in ("intent_daily", "api_daily", "kpi_daily"):
        assert by_table[f"marts.{table}"]["metric_date"] == "DATE"
    assert {
        "session_id",
        "organization",
        "bot",
        "conversation_id",
        "visitor_id",
        "session_start_at",
        "session_date",
    } <= set(by_table["marts.fct_sessions"])
    assert {"source_file", "line_number", "reason", "raw_line"} <= set(
        by_table["audit.rejected_events"]
    )
    # only the published schemas: no staging views pointing into the state folder
    assert {t.split(".")[0] for t in by_table} == {"marts", "audit"}


def test_usage_daily_matches_an_independent_count(
    demo_landing: Path, published_warehouse: Path, rejected: set[tuple[str, int]]
):
    expected = oracle_usage(oracle_events(demo_landing, rejected))
    rows = query(
        published_warehouse,
        f"SELECT metric_date, organization, bot, {', '.join(USAGE_COLUMNS)} FROM marts.usage_daily",
    )
    got = {}
    for date, org, bot, *counts in rows:
        values = dict(zip(USAGE_COLUMNS, counts, strict=True))
        got[(date, org, bot)] = {k: v for k, v in values.items() if v}
    assert got == expected
    assert sum(v.get("impressions", 0) for v in got.values()) > 1000


def test_every_rejected_line_is_kept_verbatim(demo_landing: Path, published_warehouse: Path):
    rows = query(
        published_warehouse,
        "SELECT source_file, line_number, reason, raw_line FROM audit.rejected_events",
    )
    assert rows, "the demo data has malformed lines"
    lines = {(s, n): raw for s, n, raw in _landing_lines(demo_landing)}
    for source, number, reason, raw in rows:
        assert lines[(source, number)] == raw
        assert reason
    assert len({reason.split(":")[0] for *_, reason, _ in rows}) >= 5


def test_second_run_with_nothing_new_changes_nothing(
    demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    # the first run: the session's, over the same landing folder (copied with its state)
    warehouse = copy_published(published_warehouse, tmp_path / "wh.duckdb")
    before = (warehouse.stat().st_ino, file_digest(warehouse))
    again = sbm("run", "--landing", demo_landing, "--warehouse", warehouse)
    assert "nothing new" in again.stderr
    assert (warehouse.stat().st_ino, file_digest(warehouse)) == before
    state = published_warehouse.with_name("warehouse.state")
    assert (state / "raw" / "events").is_dir()  # the first run's state lives beside its file


def test_day_by_day_equals_one_full_run(
    demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    days = sorted(p.name for p in demo_landing.iterdir())
    landing.mkdir()
    for batch in (days[:3], days[3:5], days[5:]):  # files land over time; late events included
        for day in batch:
            shutil.copytree(demo_landing / day, landing / day)
        sbm("run", "--landing", landing, "--warehouse", warehouse)
    # The last publish rewrote only the impression partitions whose rows changed: a recomputed
    # visitor's impressions keep their own ingest time, so the dates before the last batch's
    # first impression or conversation start, less the 24 h window, are links to the version
    # before (each returning visitor's restart opener used to move every date).
    new = _published_partitions(warehouse, "marts.fct_impressions")
    old = _published_partitions(warehouse, "marts.fct_impressions", back=1)
    rewritten = {day for day, part in new.items() if old.get(day, {}).get("fp") != part["fp"]}
    rejected = set(query(warehouse, "SELECT source_file, line_number FROM audit.rejected_events"))
    first = min(
        _ts(event["occurred_at"]).date()
        for day in days[5:]
        for _, _, event in _accepted_lines(landing, rejected, day)
        if event["event_type"] in ("impression", "conversation_start")
    )
    assert rewritten and min(rewritten) >= (first - dt.timedelta(days=1)).isoformat()
    assert len(rewritten) < len(new)
    tables = query(
        published_warehouse,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_name <> 'publish_info'",
    )
    assert len(tables) >= 19  # 18 marts + audit.rejected_events
    assert set(RUN_METADATA) <= {table for (table,) in tables}
    for (table,) in tables:
        assert table_rows(warehouse, table) == table_rows(published_warehouse, table), table

    # its Parquet files lost (a clean-up gone wrong): the next run, with nothing new, publishes
    # the same numbers again
    shutil.rmtree(warehouse.with_name(f"{warehouse.name}.data"))
    again = sbm("run", "--landing", landing, "--warehouse", warehouse)
    assert "published warehouse is incomplete" in again.stderr
    assert "Completed successfully" in again.stderr and again.stdout == ""  # dbt's lines too
    for (table,) in tables:
        assert table_rows(warehouse, table) == table_rows(published_warehouse, table), table


def test_invalid_configuration_fails_and_keeps_the_published_file(
    demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    warehouse = copy_published(published_warehouse, tmp_path / "wh.duckdb")
    before = file_digest(warehouse)
    config = tmp_path / "metrics.yaml"
    config.write_text("timezone: Mars/Olympus\n")
    failed = sbm(
        "run", "--landing", demo_landing, "--warehouse", warehouse, "--config", config, check=False
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f"servisbot-metrics: error: configuration {config}: timezone: unknown IANA timezone "
        "'Mars/Olympus'"
    )
    config.write_text("policies: {userSession: {expireOnInactivityInMinutes: 10}}\nextra: 1\n")
    failed = sbm(
        "run", "--landing", demo_landing, "--warehouse", warehouse, "--config", config, check=False
    )
    assert failed.returncode == 1 and "extra: unknown key" in failed.stderr
    assert file_digest(warehouse) == before


def test_configuration_change_rebuilds(
    demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(published_warehouse, warehouse)
    shutil.copytree(published_warehouse.with_name("warehouse.state"), tmp_path / "wh.state")
    config = tmp_path / "metrics.json"
    config.write_text(json.dumps({"policies": {"userSession": {"expireOnInactivityInMinutes": 1}}}))
    rebuilt = sbm("run", "--landing", demo_landing, "--warehouse", warehouse, "--config", config)
    assert "building marts" in rebuilt.stderr and "ingesting" not in rebuilt.stderr
    sessions = "SELECT count(*) FROM marts.fct_sessions"
    assert query(warehouse, sessions)[0][0] > query(published_warehouse, sessions)[0][0]
    again = sbm("run", "--landing", demo_landing, "--warehouse", warehouse, "--config", config)
    assert "nothing new" in again.stderr

    # The history: the published warehouse's defaults, then this configuration, stamped.
    history = "SELECT version, source, hash, content FROM marts.config_versions ORDER BY 1"
    (first,) = query(published_warehouse, history)
    assert first[:2] == (1, "(defaults)")
    versions = query(warehouse, history)
    assert [v[:2] for v in versions] == [(1, "(defaults)"), (2, str(config))]
    assert versions[0][2] != versions[1][2]
    assert json.loads(versions[1][3])["policies"]["userSession"] == {
        "expireOnInactivityInMinutes": 1
    }
    stamp = "SELECT setting_value FROM marts.config_settings WHERE setting_key = 'version'"
    assert query(warehouse, stamp)[0][0] == f"2 ({versions[1][2]})"


def test_missing_landing_folder_is_a_one_line_error(tmp_path: Path):
    failed = sbm(
        "run", "--landing", tmp_path / "nope", "--warehouse", tmp_path / "w.duckdb", check=False
    )
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"servisbot-metrics: error: landing folder not found: {tmp_path / 'nope'}"
    )
    assert not (tmp_path / "w.duckdb").exists()


def test_a_file_that_would_not_settle_in_time_fails_the_run_before_anything_is_read(
    tmp_path: Path,
):
    """A first run while the only landing file is still being written (changed less than
    SBM_SETTLE_SECONDS ago) and would settle only after SBM_SETTLE_WAIT_SECONDS: the run fails
    at once naming the file (it cannot publish everything that landed), and reads, builds and
    publishes nothing. A day folder outside the supported dates is left, with a warning; other
    stray entries are named. Day folders without landing files: nothing to build, and the run
    says so and succeeds."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    (landing / "2026-11-20").mkdir(parents=True)
    (landing / "2026-11-20" / "batch.ndjson").write_text('{"event_id": "e1"}\n')
    (landing / "1999-01-01").mkdir()  # outside the partitions: left, with a warning
    (landing / "1999-01-01" / "old.ndjson").write_text('{"event_id": "e0"}\n')
    (landing / "20261121").mkdir()  # a mistyped day: never read, and said so
    (landing / "notes.txt").write_text("hello\n")
    (landing / ".hidden").write_text("")
    for extra in ((), ("--full-refresh",)):
        result = sbm(
            "run",
            "--landing",
            landing,
            "--warehouse",
            warehouse,
            *extra,
            env={"SBM_SETTLE_SECONDS": "3600", "SBM_SETTLE_WAIT_SECONDS": "60"},
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1] == (
            "servisbot-metrics: error: 1 landing file(s) still being written (changed in the "
            "last 3600 s): 2026-11-20/batch.ndjson; they would settle after the 60 s a run "
            "waits (SBM_SETTLE_WAIT_SECONDS). Run again once they are complete, or with "
            "SBM_SETTLE_SECONDS=0 to read them as they are"
        )
        assert "warning: ignoring 1 delivery-day folder(s) outside the supported range " in (
            result.stderr
        )
        assert (
            "warning: 2 entries in the landing folder not read (not a delivery-day folder "
            "YYYY-MM-DD): 20261121, notes.txt\n"
        ) in result.stderr
        assert not warehouse.exists()
        assert not list(tmp_path.glob("w.state/raw/manifest/*.json"))  # nothing half-read
    (landing / "2026-11-20" / "batch.ndjson").unlink()  # a day folder with no landing file
    result = sbm("run", "--landing", landing, "--warehouse", warehouse)
    assert NOTHING_INGESTED in result.stderr
    assert "0 of 1 delivery day(s) ingested; nothing published" in result.stderr
    assert not warehouse.exists()


def test_a_warehouse_path_the_pipeline_cannot_publish_is_refused_before_any_work(tmp_path: Path):
    """An analyst's own DuckDB file, a folder, or a path with a single quote (dbt's SQL quotes
    the raw layer's paths) as --warehouse: a one-line error, and the file is left as it was."""
    landing = tmp_path / "landing"
    (landing / "2026-11-20").mkdir(parents=True)
    (landing / "2026-11-20" / "batch.ndjson").write_text("not json\n")
    own = tmp_path / "analyst.duckdb"
    with duckdb.connect(str(own)) as con:
        con.execute("CREATE TABLE my_work AS SELECT 42 AS answer")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    quoted = tmp_path / "o'brien" / "w.duckdb"
    expected = {
        own: f"{own} exists and is not a warehouse servisbot-metrics published",
        folder: f"{folder} is a folder: the warehouse is the DuckDB file the pipeline publishes",
        quoted: f"a warehouse or state path cannot contain a single quote ('): {quoted}",
    }
    for warehouse, message in expected.items():
        failed = sbm("run", "--landing", landing, "--warehouse", warehouse, check=False)
        assert failed.returncode == 1
        assert failed.stderr.strip().startswith(f"servisbot-metrics: error: {message}")
    assert query(own, "SELECT answer FROM my_work") == [(42,)]
    assert not list(tmp_path.glob("*.state")) and not quoted.parent.exists()


def test_cli_conventions():
    assert sbm("--help", console_script=True).stdout.startswith("usage: servisbot-metrics")
    assert "--warehouse" in sbm("run", "--help", console_script=True).stdout
    usage = sbm("bogus", check=False, console_script=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    versions = sbm("--version", console_script=True)
    assert versions.returncode == 0 and not versions.stderr
    assert versions.stdout.startswith("servisbot-metrics 0.1.0 (dagster 1."), versions.stdout
    assert "dbt-core 1.1" in versions.stdout and "not installed" not in versions.stdout


def test_failed_build_keeps_the_published_file_and_the_next_run_catches_up(
    base_site: Site, demo_landing: Path, tmp_path: Path
):
    # published over every day but the last: a copy of the session's base site
    site = clone_site(base_site, tmp_path, demo_landing, with_last_day=False)
    landing, warehouse = site.landing, site.warehouse
    days = sorted(p.name for p in demo_landing.iterdir())
    before = file_digest(warehouse)

    shutil.copytree(demo_landing / days[-1], landing / days[-1])
    build_db = tmp_path / "wh.state" / "build.duckdb"
    build_db.unlink()
    build_db.mkdir()  # dbt cannot open its database: the build fails after the ingest
    failed = sbm("run", "--landing", landing, "--warehouse", warehouse, check=False)
    assert failed.returncode == 1
    last_line = failed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("servisbot-metrics: error: refresh_job")
    assert file_digest(warehouse) == before

    build_db.rmdir()
    caught_up = sbm("run", "--landing", landing, "--warehouse", warehouse)
    assert "ingesting" not in caught_up.stderr and "building marts" in caught_up.stderr
    latest = query(warehouse, "SELECT max(session_date) FROM marts.fct_sessions")[0][0]
    assert latest.isoformat() >= days[-2]
    assert file_digest(warehouse) != before
