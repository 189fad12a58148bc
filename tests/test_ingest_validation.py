"""Every rejection rule of the contract (section 1), through the real ingest into Parquet."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from ingest.raw_layer import DayResult, events_glob, ingest_day, rejects_glob

DAY = "2026-11-20"


def event(**overrides: object) -> dict:
    base = {
        "event_id": "e-1",
        "event_type": "user_message",
        "occurred_at": "2026-11-20T10:15:03.120Z",
        "received_at": "2026-11-20T10:15:04Z",
        "organization": "acme",
        "bot": "ClassicFlow",
        "visitor_id": "v-1",
        "conversation_id": "c-1",
        "properties": {"text": "hello"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def line(**overrides: object) -> str:
    return json.dumps(event(**overrides))


# (case, raw line, the reason the contract's rule gives)
REJECTED = [
    ("not JSON", '{"event_id": "x", ', "not valid JSON"),
    ("JSON array", "[1, 2, 3]", "not a JSON object"),
    ("JSON string", '"just a string"', "not a JSON object"),
    ("missing event_id", line(event_id=...), "missing required field: event_id"),
    ("null event_id", line(event_id=None), "missing required field: event_id"),
    ("empty event_id", line(event_id=""), "empty required field: event_id"),
    ("numeric event_id", line(event_id=42), "field event_id must be a string"),
    ("missing event_type", line(event_type=...), "missing required field: event_type"),
    ("missing organization", line(organization=...), "missing required field: organization"),
    ("empty bot", line(bot=""), "empty required field: bot"),
    ("missing visitor_id", line(visitor_id=...), "missing required field: visitor_id"),
    ("blank visitor_id", line(visitor_id=" "), "empty required field: visitor_id"),
    ("whitespace organization", line(organization="\t\r\n "), "empty required field: organization"),
    ("unknown event_type", line(event_type="page_view"), "unknown event_type: page_view"),
    ("missing occurred_at", line(occurred_at=...), "missing required field: occurred_at"),
    ("missing received_at", line(received_at=...), "missing required field: received_at"),
    (
        "timestamp without offset",
        line(occurred_at="2026-11-20T10:15:03"),
        "invalid timestamp in occurred_at",
    ),
    ("timestamp not a date", line(received_at="yesterday"), "invalid timestamp in received_at"),
    ("timestamp as float", line(occurred_at=1763633703120.5), "invalid timestamp in occurred_at"),
    (
        "impossible date",
        line(occurred_at="2026-02-30T10:00:00Z"),
        "invalid timestamp in occurred_at",
    ),
    (
        "occurred 24h+ after received",
        line(occurred_at="2026-11-21T10:15:04.001Z", received_at="2026-11-20T10:15:04Z"),
        "occurred_at is more than 24 hours after received_at",
    ),
    (
        "missing conversation_id",
        line(conversation_id=...),
        "missing required field: conversation_id",
    ),
    ("empty conversation_id", line(conversation_id=""), "empty required field: conversation_id"),
    ("properties not an object", line(properties=["a"]), "properties is not an object"),
    ("properties a string", line(properties="x"), "properties is not an object"),
    (
        "feedback without rating",
        line(event_type="feedback", properties={}),
        "feedback: properties.rating must be an integer from 1 to 5",
    ),
    (
        "feedback rating 7",
        line(event_type="feedback", properties={"rating": 7}),
        "feedback: properties.rating must be an integer from 1 to 5",
    ),
    (
        "feedback rating 4.5",
        line(event_type="feedback", properties={"rating": 4.5}),
        "feedback: properties.rating must be an integer from 1 to 5",
    ),
    (
        "intent missing",
        line(event_type="intent_matched", properties={"confidence": 0.5}),
        "intent_matched: properties.intent must be a non-empty string",
    ),
    (
        "intent empty",
        line(event_type="intent_matched", properties={"intent": ""}),
        "intent_matched: properties.intent must be a non-empty string",
    ),
    (
        "intent blank",
        line(event_type="intent_matched", properties={"intent": "  "}),
        "intent_matched: properties.intent must be a non-empty string",
    ),
    (
        "confidence above 1",
        line(event_type="intent_matched", properties={"intent": "greet", "confidence": 1.2}),
        "intent_matched: properties.confidence must be a number from 0 to 1",
    ),
    (
        "api missing",
        line(event_type="api_call", properties={"status_code": 200}),
        "api_call: properties.api must be a non-empty string",
    ),
    (
        "status_code 700",
        line(event_type="api_call", properties={"api": "crm", "status_code": 700}),
        "api_call: properties.status_code must be an integer from 100 to 599",
    ),
    (
        "status_code string",
        line(event_type="api_call", properties={"api": "crm", "status_code": "200"}),
        "api_call: properties.status_code must be an integer from 100 to 599",
    ),
    (
        "negative duration",
        line(
            event_type="api_call", properties={"api": "crm", "status_code": 200, "duration_ms": -1}
        ),
        "api_call: properties.duration_ms must be a number >= 0",
    ),
    (
        "goal missing",
        line(event_type="goal", properties={"reason": "x"}),
        "goal: properties.goal must be a non-empty string",
    ),
    (
        "bad start_action",
        line(event_type="conversation_start", properties={"start_action": "x"}),
        "conversation_start: properties.start_action must be one of",
    ),
]

ACCEPTED = [
    (
        "impression without conversation_id",
        line(event_type="impression", conversation_id=..., properties=..., page_url="https://x"),
    ),
    ("epoch milliseconds", line(occurred_at=1763633703120, received_at=1763633704000)),
    ("offset timestamp", line(occurred_at="2026-11-20T15:45:03+05:30")),
    (
        "occurred exactly 24h after received",
        line(occurred_at="2026-11-21T10:15:04Z", received_at="2026-11-20T10:15:04Z"),
    ),
    ("feedback 5", line(event_type="feedback", properties={"rating": 5})),
    (
        "intent with confidence 0",
        line(event_type="intent_matched", properties={"intent": "fallback", "confidence": 0}),
    ),
    (
        "api call",
        line(
            event_type="api_call",
            properties={"api": "crm", "status_code": 503, "duration_ms": 12.5},
        ),
    ),
    ("goal with extras", line(event_type="goal", properties={"goal": "done", "reason": "x"})),
    ("handover no properties", line(event_type="handover", properties=...)),
    ("visitor_id with spaces around it, kept as written", line(visitor_id=" v1 ")),
    ("null properties", line(event_type="bot_message", properties=None)),
    (
        "start with action",
        line(event_type="conversation_start", properties={"start_action": "teaser"}),
    ),
]


def _write(landing: Path, name: str, lines: list[str]) -> Path:
    path = landing / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, DayResult]:
    root = tmp_path_factory.mktemp("ingest")
    landing, raw = root / "landing", root / "raw"
    lines = [raw_line for _, raw_line, _ in REJECTED]
    # distinct ids for the accepted lines, so that de-duplication does not merge them
    lines += [
        json.dumps({**json.loads(raw_line), "event_id": f"ok-{i}"})
        for i, (_, raw_line) in enumerate(ACCEPTED)
    ]
    lines.insert(3, "")  # blank lines are ignored, not rejected
    lines.insert(7, "   \r")
    _write(landing, "batch.ndjson", lines)
    return landing, raw, ingest_day(landing, DAY, raw, log=lambda _: None)


def _rejects(raw: Path, source_file: str) -> dict[int, tuple[str, str]]:
    rows = duckdb.sql(
        f"SELECT line_number, reason, raw_line, source_file "
        f"FROM read_parquet('{rejects_glob(raw)}')"
    ).fetchall()
    assert {r[3] for r in rows} == {source_file}
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.mark.parametrize(("case", "raw_line", "reason"), REJECTED, ids=[c[0] for c in REJECTED])
def test_rejected_line_keeps_file_line_reason_and_text(ingested, case, raw_line, reason):
    _, raw, _ = ingested
    rejects = _rejects(raw, f"{DAY}/batch.ndjson")
    line_number = 1 + REJECTED.index((case, raw_line, reason))
    line_number += (line_number > 3) + (line_number > 6)  # the two blank lines inserted above
    got_reason, got_raw = rejects[line_number]
    assert got_reason.startswith(reason)
    assert got_raw == raw_line


def test_accepted_lines_and_counts(ingested):
    _, raw, result = ingested
    assert result.rejected == len(REJECTED)
    assert result.accepted == len(ACCEPTED)
    assert result.lines == len(REJECTED) + len(ACCEPTED)  # blank lines are not counted
    rows = duckdb.sql(
        "SELECT event_id, occurred_at::VARCHAR "
        f"FROM read_parquet('{events_glob(raw)}') ORDER BY event_id"
    ).fetchall()
    assert len(rows) == len(ACCEPTED)
    by_id = dict(rows)
    # epoch milliseconds and +05:30 offsets both end up as UTC instants
    assert by_id["ok-1"] == "2025-11-20 10:15:03.12"
    assert by_id["ok-2"] == "2026-11-20 10:15:03"


def test_same_files_again_add_nothing(ingested):
    landing, raw, first = ingested
    before = _rejects(raw, f"{DAY}/batch.ndjson")
    again = ingest_day(landing, DAY, raw, log=lambda _: None)
    assert again.skipped
    assert (again.accepted, again.rejected) == (first.accepted, first.rejected)
    assert _rejects(raw, f"{DAY}/batch.ndjson") == before
    forced = ingest_day(landing, DAY, raw, force=True, log=lambda _: None)
    assert not forced.skipped
    assert _rejects(raw, f"{DAY}/batch.ndjson") == before


def test_duplicates_within_a_day_keep_the_earliest_received(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    late = line(event_id="dup", received_at="2026-11-20T10:20:00Z", properties={"text": "late"})
    early = line(event_id="dup", received_at="2026-11-20T10:16:00Z", properties={"text": "early"})
    _write(landing, "a.ndjson", [late, late])
    _write(landing, "b.jsonl.gz", [early])
    result = ingest_day(landing, DAY, raw, log=lambda _: None)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 2, 0)
    rows = duckdb.sql(
        f"SELECT properties, source_file FROM read_parquet('{events_glob(raw)}')"
    ).fetchall()
    assert rows == [('{"text":"early"}', f"{DAY}/b.jsonl.gz")]

    again = ingest_day(landing, DAY, raw, log=lambda _: None)
    assert again.skipped
    _write(landing, "c.ndjson", [line(event_id="new")])
    changed = ingest_day(landing, DAY, raw, log=lambda _: None)
    assert not changed.skipped and changed.accepted == 2


def test_invalid_utf8_line_is_rejected_not_fatal(tmp_path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    path = landing / DAY / "bad.ndjson"
    path.parent.mkdir(parents=True)
    path.write_bytes(line(event_id="ok").encode() + b"\n" + b'{"event_id": "\xff\xfe"}\n')
    result = ingest_day(landing, DAY, raw, log=lambda _: None)
    assert (result.accepted, result.rejected) == (1, 1)
    assert _rejects(raw, f"{DAY}/bad.ndjson")[2][0] == "not valid UTF-8"
