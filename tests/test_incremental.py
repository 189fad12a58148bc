"""Incremental dbt builds equal a full refresh, whatever the arrival order and batching.

Hypothesis writes small event histories that sit on the rules' boundaries (gaps of exactly the
session timeout, unique-impression windows, conversation max duration, duplicates delivered on
several days), scatters every copy over delivery days, and lands those days in a random order
and batching, re-delivering some days. After each batch the real ingest writes the raw layer and
a real `dbt run` updates the build database incrementally; at the end a `dbt run --full-refresh`
over the same raw layer must give the same intermediate tables and published (marts, audit)
tables, row for row. A fixed case moves a session's and a conversation's start across midnight
with a late event, so that a daily partition empties.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import dbt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.raw_layer import ingest_day, raw_layer_digest
from orchestration import dbt_code, planner, state
from orchestration.conflicting_copies import conflicting_copies
from orchestration.metrics_config import parse_config
from orchestration.settings import PUBLISHED_SCHEMAS
from orchestration.state import WarehousePaths

START = dt.datetime(2026, 3, 28, 22, 0)  # spans the Europe/Dublin DST change of 2026-03-29
DELIVERY_DAYS = [(START.date() + dt.timedelta(days=i)).isoformat() for i in range(5)]
CONFIG = parse_config(
    {
        "timezone": "Europe/Dublin",
        "policies": {"conversation": {"maxDurationInMinutes": 60}},
        "impressions": {"uniqueWindowHours": 24},
        "kpiDashboards": [
            {
                "alias": "kpis",
                "resourceName": "bot-a",
                "businessHours": {"sunday": "09-17", "monday": "00-12"},
                "useCases": [
                    {
                        "title": "Reset",
                        "summary": {
                            "start": "reset_start",
                            "success": "reset_done",
                            "failure": "reset_failed",
                        },
                        "metrics": [
                            {
                                "title": "Why",
                                "type": "bucket",
                                "properties": {"goal": "reset_failed"},
                            }
                        ],
                    }
                ],
            }
        ],
    }
)
GAPS_MS = [
    0,
    1,
    30_000,
    599_999,
    600_000,
    601_000,
    3_599_999,
    3_600_000,
    20 * 3_600_000,
    24 * 3_600_000,
    30 * 3_600_000,
]
TURN_TYPES = [
    "user_message",
    "bot_message",
    "intent_matched",
    "api_call",
    "goal",
    "feedback",
    "handover",
    "conversation_start",
]
GOALS = ["reset_start", "reset_done", "reset_failed"]


def _event(n: int, kind: str, at: dt.datetime, visitor: str, bot: str, conversation: str | None):
    properties: dict = {}
    if kind == "user_message":
        properties = {"text": f"call me on +353 87 123 {n:04d}"}
    elif kind == "feedback":
        properties = {"rating": n % 5 + 1}
    elif kind == "intent_matched":
        properties = {"intent": "fallback" if n % 3 == 0 else "greeting", "confidence": 0.5}
    elif kind == "api_call":
        properties = {
            "api": "crm",
            "status_code": 500 if n % 4 == 0 else 200,
            "duration_ms": n * 10,
        }
    elif kind == "goal":
        properties = {"goal": GOALS[n % 3], "reason": "timeout" if n % 2 else None}
    event = {
        "event_id": f"e{n:05d}",
        "event_type": kind,
        "occurred_at": at.isoformat(timespec="milliseconds") + "Z",
        "organization": "org",
        "bot": bot,
        "visitor_id": visitor,
        "properties": properties,
    }
    if conversation:
        event["conversation_id"] = conversation
    return event


@st.composite
def histories(draw) -> list[dict]:
    """Events on rule boundaries: impression trails and conversations of a few visitors."""
    events: list[dict] = []
    for v in range(draw(st.integers(1, 3))):
        visitor, bot = f"v{v}", draw(st.sampled_from(["bot-a", "bot-b"]))
        at = START + dt.timedelta(minutes=draw(st.integers(0, 120)))
        for gap in draw(st.lists(st.sampled_from(GAPS_MS), min_size=1, max_size=5)):
            at += dt.timedelta(milliseconds=gap)
            events.append(_event(len(events), "impression", at, visitor, bot, None))
        for c in range(draw(st.integers(0, 2))):
            conversation = f"{visitor}-c{c}"
            at = START + dt.timedelta(minutes=draw(st.integers(0, 600)))
            events.append(_event(len(events), "conversation_start", at, visitor, bot, conversation))
            turns = draw(
                st.lists(
                    st.tuples(st.sampled_from(GAPS_MS[:8]), st.sampled_from(TURN_TYPES)), max_size=8
                )
            )
            for gap, kind in turns:
                at += dt.timedelta(milliseconds=gap)
                events.append(_event(len(events), kind, at, visitor, bot, conversation))
    return events


Deliveries = tuple[dict[str, list[dict]], list[list[str]], dict[str, list[dict]]]


def _corrected(event: dict, what: str) -> dict:
    """An event as a corrected delivery states it: received later, or with other content."""
    if what == "received later":
        received = dt.datetime.fromisoformat(event["received_at"][:-1]) + dt.timedelta(minutes=7)
        return {**event, "received_at": received.isoformat() + "Z"}
    properties = event["properties"]
    if event["event_type"] == "intent_matched":
        properties = {**properties, "intent": "corrected"}
    return {**event, "channel": "corrected", "properties": properties}


@st.composite
def deliveries(draw, events: list[dict]) -> Deliveries:
    """Every event's copies on delivery days, the days' arrival as batches of runs, and the
    corrected content of a day delivered again (its file rewritten: an event changed or gone)."""
    by_day: dict[str, list[dict]] = {day: [] for day in DELIVERY_DAYS}
    # Copies that disagree on who an event belongs to, or when, force a full refresh of the batch
    # that brings them (planner.full_refresh_reason): in a quarter of the examples only, so that
    # most batches exercise the incremental path.
    with_conflicts = draw(st.integers(0, 3)) == 0
    for event in events:
        occurred = dt.datetime.fromisoformat(event["occurred_at"][:-1])
        # delivered on the day it occurred or later (an event after the last day: on that day)
        first = min(max(0, (occurred.date() - START.date()).days), len(DELIVERY_DAYS) - 1)
        for n in range(draw(st.integers(1, 2))):  # redelivered duplicates
            day = draw(st.integers(first, len(DELIVERY_DAYS) - 1))
            received = dt.datetime.fromisoformat(DELIVERY_DAYS[day]) + dt.timedelta(
                minutes=draw(st.integers(0, 1439))
            )
            copy = {**event, "received_at": received.isoformat() + "Z"}
            if with_conflicts and n and draw(st.integers(0, 5)) == 0:  # disagrees: who or when
                field = "conversation_id" if "conversation_id" in copy else "visitor_id"
                if draw(st.booleans()):  # moved in time, possibly across midnight
                    moved = occurred + dt.timedelta(milliseconds=draw(st.sampled_from(GAPS_MS)))
                    copy["occurred_at"] = moved.isoformat(timespec="milliseconds") + "Z"
                else:
                    copy[field] += "-other"
            by_day[DELIVERY_DAYS[day]].append(copy)
    days = draw(st.permutations([d for d in DELIVERY_DAYS if by_day[d]]))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(days) - 1)), max_size=3)))
    batches = [list(days[a:b]) for a, b in zip([0, *cuts], [*cuts, len(days)], strict=True)]
    batches = [b for b in batches if b]
    corrections: dict[str, list[dict]] = {}
    if draw(st.booleans()):  # a day delivered again later: re-read whole, nothing double-counts
        day = draw(st.sampled_from(days))
        batches.append([day])
        what = draw(st.sampled_from(["repeated", "received later", "new content", "removed"]))
        if what != "repeated":  # the day's file rewritten, one event changed or dropped
            corrected = list(by_day[day])
            n = draw(st.integers(0, len(corrected) - 1))
            if what == "removed":
                del corrected[n]
            else:
                corrected[n] = _corrected(corrected[n], what)
            corrections[day] = corrected
    return by_day, batches, corrections


def _dbt_run(state_dir: Path, *extra: str) -> None:
    result = dbt(state_dir, CONFIG.dbt_vars(), "run", *extra, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]


def _example_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same folder for every example, emptied of the previous one's files but for dbt's
    parse cache (target/, logs/): the vars are those of the previous example, state_dir
    included, so dbt re-parses only what changed (nothing) instead of the whole project twice
    per example."""
    root = tmp_path_factory.getbasetemp() / "incremental"
    for state_dir in (root / "incremental.state", root / "full.state"):
        for path in state_dir.glob("*"):
            if path.is_dir() and path.name not in ("target", "logs"):
                shutil.rmtree(path)
            elif not path.is_dir():
                path.unlink()
    shutil.rmtree(root / "landing", ignore_errors=True)
    root.mkdir(exist_ok=True)
    return root


def _deliver(
    landing: Path,
    raw: Path,
    by_day: dict[str, list[dict]],
    batch: list[str],
    attempt: int,
    corrections: dict[str, list[dict]],
) -> None:
    for day in batch:
        folder = landing / day
        again = folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if again and day in corrections:  # the day's file corrected in place
            name, events = "part-0.ndjson", corrections[day]
        else:  # a re-delivered day gets a new file beside the old one, repeating its events
            name, events = f"part-{attempt if again else 0}.ndjson", by_day[day]
        (folder / name).write_text("".join(json.dumps(e) + "\n" for e in events))
        ingest_day(landing, day, raw, log=lambda _: None)


# When and by which run rows were built: differs between builds by design.
RUN_METADATA = {"last_ingested_at", "built_at", "applied_at", "run_id"}
# What a build started from (watermarks, touched partitions): about the build, not the data.
BUILD_SCOPE_TABLES = {"int_build_scope", "int_touched_partitions"}


def _comparable(con: duckdb.DuckDBPyConnection, db: str, schema: str, table: str) -> str:
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
        [db, schema, table],
    ).fetchall()
    select = [
        f"round({c}, 6) as {c}" if t in ("DOUBLE", "FLOAT") else c
        for c, t in columns
        if c not in RUN_METADATA
    ]
    return f"select {', '.join(select)} from {db}.{schema}.{table}"


def assert_same_tables(incremental: Path, full: Path) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{incremental}' as inc (read_only)")
    con.execute(f"attach '{full}' as ful (read_only)")
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = 'ful' and list_contains(?, table_schema) "
        "and table_type = 'BASE TABLE' order by all",
        [["intermediate", *PUBLISHED_SCHEMAS]],
    ).fetchall()
    assert any(t == "usage_daily" for _, t in tables)
    assert {s for s, _ in tables} == {"intermediate", *PUBLISHED_SCHEMAS}
    for schema, table in tables:
        if table in BUILD_SCOPE_TABLES:
            continue
        a = _comparable(con, "inc", schema, table)
        b = _comparable(con, "ful", schema, table)
        only_inc = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
        only_full = con.execute(f"select count(*) from ({b} except all {a})").fetchone()[0]
        assert (only_inc, only_full) == (0, 0), (
            f"{schema}.{table}: {only_inc} row(s) only incremental, {only_full} only full refresh"
        )
    con.close()


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_incremental_runs_equal_a_full_refresh(data: st.DataObject, tmp_path_factory) -> None:
    events = data.draw(histories(), label="events")
    by_day, batches, corrections = data.draw(deliveries(events), label="deliveries")
    build_and_compare(tmp_path_factory, by_day, batches, corrections)


def build_and_compare(
    tmp_path_factory: pytest.TempPathFactory,
    by_day: dict[str, list[dict]],
    batches: list[list[str]],
    corrections: dict[str, list[dict]] | None = None,
) -> list[str | None]:
    """Deliver `batches` one after the other (a day delivered again with `corrections` gets
    its file rewritten with them), each followed by the dbt asset's build decision and a dbt
    run; then a full refresh over the same raw layer must give the same tables. Returns each
    batch's full-refresh reason."""
    root = _example_root(tmp_path_factory)
    landing, state_dir = root / "landing", root / "incremental.state"
    paths = WarehousePaths.for_warehouse(root / "incremental.duckdb", state_dir)
    code_hash = dbt_code.code_hash()
    definition = planner.definition_hash(CONFIG.content_hash, code_hash)
    reasons = []
    for attempt, batch in enumerate(batches):
        _deliver(landing, state_dir / "raw", by_day, batch, attempt, corrections or {})
        # the dbt asset's decision: e.g. copies that moved an event force a full refresh
        reason = planner.full_refresh_reason(
            state.read_build(paths), definition, False, lambda: conflicting_copies(paths)
        )
        reasons.append(reason)
        _dbt_run(state_dir, *(["--full-refresh"] if reason else []))
        state.write_build(
            paths,
            state.BuildRecord(
                definition_hash=definition,
                code_hash=code_hash,
                config_vars=CONFIG.dbt_vars(),
                raw_digest=raw_layer_digest(paths.raw),
                build_id=f"batch {attempt}",
            ),
        )

    full = root / "full.state"
    shutil.copytree(state_dir / "raw", full / "raw")
    _dbt_run(full, "--full-refresh")
    assert_same_tables(state_dir / "build.duckdb", full / "build.duckdb")
    return reasons


def test_a_late_event_moves_starts_across_midnight(tmp_path_factory) -> None:
    """A conversation that starts just after midnight (Europe/Dublin, the night the clocks go
    forward) gets a user message 7 minutes earlier, before midnight, delivered two days later:
    its session and conversation now start the day before, so kpi_daily's and
    config_sensitivity_daily's sessions of the first day for bot-a empty out; a second
    conversation's late opener moves it across the DST change (01:00 UTC)."""
    midnight = dt.datetime(2026, 3, 29, 0, 0)
    late_opener = _event(0, "user_message", midnight - dt.timedelta(minutes=3), "v0", "bot-a", "c0")
    first = [
        _event(1, "conversation_start", midnight + dt.timedelta(minutes=4), "v0", "bot-a", "c0"),
        _event(3, "goal", midnight + dt.timedelta(minutes=5), "v0", "bot-a", "c0"),  # reset_start
        _event(4, "goal", midnight + dt.timedelta(minutes=6), "v0", "bot-a", "c0"),  # reset_done
        _event(6, "intent_matched", midnight + dt.timedelta(minutes=7), "v0", "bot-a", "c0"),
        _event(7, "impression", midnight + dt.timedelta(minutes=1), "v0", "bot-a", None),
        _event(
            8,
            "conversation_start",
            midnight + dt.timedelta(hours=1, minutes=2),
            "v1",
            "bot-a",
            "c1",
        ),
    ]
    # bot-only before the user side: the late message opens c1's session and conversation
    late = [
        late_opener,
        _event(9, "user_message", midnight + dt.timedelta(minutes=58), "v1", "bot-a", "c1"),
        _event(10, "impression", midnight - dt.timedelta(hours=20), "v0", "bot-a", None),
    ]
    by_day = {day: [] for day in DELIVERY_DAYS}
    for event in first:
        by_day["2026-03-29"].append({**event, "received_at": "2026-03-29T02:00:00Z"})
    for event in late:
        by_day["2026-03-31"].append({**event, "received_at": "2026-03-31T02:00:00Z"})
    build_and_compare(tmp_path_factory, by_day, [["2026-03-29"], ["2026-03-31"]])


def test_a_new_impression_inside_a_candidate_window_opened_two_days_before(tmp_path_factory):
    """config_sensitivity_daily restarts a visitor's candidate windows at an impression that
    follows a gap of the longest candidate window (48 h), not at the first touched impression:
    v5's impressions 22 h and then 25 h apart are all in the 48 h window opened by the first,
    so the third, delivered two days later and alone on its date, opens no 48 h window (it
    opens a 12 h one)."""
    first_at = dt.datetime(2026, 3, 29, 10, 0)
    impressions = [
        (20, first_at),
        (21, first_at + dt.timedelta(hours=22)),
        (22, first_at + dt.timedelta(hours=47)),
    ]
    by_day: dict[str, list[dict]] = {day: [] for day in DELIVERY_DAYS}
    for n, at in impressions:
        received = at + dt.timedelta(minutes=1)
        by_day[received.date().isoformat()].append(
            {
                **_event(n, "impression", at, "v5", "bot-a", None),
                "received_at": received.isoformat(timespec="milliseconds") + "Z",
            }
        )
    build_and_compare(tmp_path_factory, by_day, [["2026-03-29", "2026-03-30"], ["2026-03-31"]])


def test_a_corrected_delivery_day_equals_a_full_refresh(tmp_path_factory) -> None:
    """Delivery days corrected after they were built, in one batch: on one, an event's content
    changed, an event removed, and an event removed whose other copy, delivered the next day
    and received later, lost to it (it is not staged: only a full refresh can bring it back);
    another day's only file emptied (no row of it is new: its manifest says it was read
    again). The planner counts the four stored events and rebuilds in full."""
    at = dt.datetime(2026, 3, 29, 9, 0)
    day, next_day, emptied = "2026-03-29", "2026-03-30", "2026-03-31"
    events = [
        _event(100, "conversation_start", at, "v7", "bot-a", "c7"),
        _event(101, "intent_matched", at + dt.timedelta(seconds=5), "v7", "bot-a", "c7"),
        _event(102, "user_message", at + dt.timedelta(seconds=9), "v7", "bot-a", "c7"),
        _event(103, "impression", at - dt.timedelta(minutes=1), "v7", "bot-a", None),
        _event(104, "impression", at + dt.timedelta(hours=2), "v8", "bot-b", None),
    ]
    by_day: dict[str, list[dict]] = {d: [] for d in DELIVERY_DAYS}
    by_day[day] = [{**e, "received_at": "2026-03-29T12:00:00Z"} for e in events]
    by_day[next_day] = [{**events[4], "received_at": "2026-03-30T12:00:00Z"}]
    by_day[emptied] = [
        {
            **_event(105, "impression", at + dt.timedelta(days=2), "v9", "bot-a", None),
            "received_at": "2026-03-31T12:00:00Z",
        }
    ]
    opener, intent, message, _, _ = by_day[day]
    corrected = {day: [opener, _corrected(intent, "new content"), message], emptied: []}
    reasons = build_and_compare(
        tmp_path_factory, by_day, [[day, next_day, emptied], [day, emptied]], corrected
    )
    assert reasons == [
        "no previous build",
        "4 stored event(s) changed or removed by a delivery day read again",
    ]
