"""JSON `null` is absence (contract, section 1): for every event type, through the real ingest.

An optional field or property given as `null` is simply not given (the line is accepted and the
field is SQL NULL in the events Parquet); a required one given as `null` is missing (the line is
rejected with `missing required field: F`, or the type's property reason).
"""

from __future__ import annotations

import json

import duckdb
import pytest

from ingest.raw_layer import events_glob, ingest_day, rejects_glob

DAY = "2026-11-20"
REQUIRED_FIELDS = ("event_id", "event_type", "occurred_at", "received_at", "organization", "bot")
REQUIRED_FIELDS += ("visitor_id",)

# per type: (required properties with a valid value, optional properties, the property reason)
TYPES: dict[str, tuple[dict, tuple[str, ...], str | None]] = {
    "impression": ({}, (), None),
    "conversation_start": ({}, ("start_action",), None),
    "user_message": ({}, ("text",), None),
    "feedback": (
        {"rating": 4},
        (),
        "feedback: properties.rating must be an integer from 1 to 5",
    ),
    "bot_message": ({}, (), None),
    "intent_matched": (
        {"intent": "greet"},
        ("confidence",),
        "intent_matched: properties.intent must be a non-empty string",
    ),
    "api_call": (
        {"api": "crm", "status_code": 200},
        ("duration_ms",),
        None,  # two required properties: reasons below
    ),
    "goal": (
        {"goal": "pw_reset_done"},
        ("reason",),  # "any further properties"
        "goal: properties.goal must be a non-empty string",
    ),
    "handover": ({}, (), None),
    "conversation_end": ({}, (), None),
}
API_CALL_REASONS = {
    "api": "api_call: properties.api must be a non-empty string",
    "status_code": "api_call: properties.status_code must be an integer from 100 to 599",
}


def _event(type_: str, id_: str, **overrides: object) -> dict:
    required_props = TYPES[type_][0]
    base: dict = {
        "event_id": id_,
        "event_type": type_,
        "occurred_at": "2026-11-20T10:15:03.120Z",
        "received_at": "2026-11-20T10:15:04Z",
        "organization": "acme",
        "bot": "ClassicFlow",
        "visitor_id": "v-1",
        "conversation_id": "c-1",
        "properties": dict(required_props),
    }
    base.update(overrides)
    return base


def _cases(event_type: str) -> list[tuple[str, dict, str | None]]:
    """(case, event, expected reason or None when accepted) for one event type."""
    required_props, optional_props, prop_reason = TYPES[event_type]
    cases: list[tuple[str, dict, str | None]] = []

    def eid(case: str) -> str:
        return f"{event_type}/{case}"

    # every optional field and property null, plus an extra property null
    props = {**required_props, **dict.fromkeys(optional_props), "note": None}
    nulls = {"channel": None, "page_url": None, "properties": props}
    if event_type == "impression":
        nulls["conversation_id"] = None
    cases.append(("optional nulls", _event(event_type, eid("optional nulls"), **nulls), None))
    # properties: null is no properties
    no_props = _event(event_type, eid("properties null"), properties=None)
    if event_type == "api_call":
        reason: str | None = API_CALL_REASONS["api"]
    else:
        reason = prop_reason
    cases.append(("properties null", no_props, reason))
    # a required field null is missing (conversation_id: for every type but impression)
    fields = REQUIRED_FIELDS + (() if event_type == "impression" else ("conversation_id",))
    for field in fields:
        case = f"{field} null"
        event = _event(event_type, eid(case), **{field: None})
        if field == "event_id":
            event["properties"] = {**event["properties"], "case": eid(case)}
        cases.append((case, event, f"missing required field: {field}"))
    # a required property null breaks the type's rule
    for name in required_props:
        case = f"properties.{name} null"
        event = _event(event_type, eid(case), properties={**required_props, name: None})
        reason = API_CALL_REASONS[name] if event_type == "api_call" else prop_reason
        cases.append((case, event, reason))
    return cases


ALL_CASES = [(t, *case) for t in TYPES for case in _cases(t)]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """Every case as one line of one landing file, through `ingest_day`: the events (by id)
    and the rejects (by line number) read back from the Parquet it wrote."""
    root = tmp_path_factory.mktemp("nulls")
    landing, raw = root / "landing", root / "raw"
    path = landing / DAY / "nulls.ndjson"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(event) + "\n" for _, _, event, _ in ALL_CASES))
    ingest_day(landing, DAY, raw, log=lambda _: None)
    con = duckdb.connect()
    columns = [
        "event_id", "event_type", "conversation_id", "channel", "page_url", "properties",
        "json_extract_string(properties, '$.start_action')",
        "json_extract_string(properties, '$.text')",
        "json_extract_string(properties, '$.confidence')",
        "json_extract_string(properties, '$.duration_ms')",
        "json_extract_string(properties, '$.reason')",
        "json_extract_string(properties, '$.note')",
    ]  # fmt: skip
    events = {
        row[0]: row
        for row in con.execute(
            f"SELECT {', '.join(columns)} FROM read_parquet('{events_glob(raw)}')"
        ).fetchall()
    }
    rejects = dict(
        con.execute(
            f"SELECT line_number, reason FROM read_parquet('{rejects_glob(raw)}')"
        ).fetchall()
    )
    con.close()
    return events, rejects


@pytest.mark.parametrize("event_type", list(TYPES))
def test_null_is_absent_for_every_event_type(ingested, event_type):
    events, rejects = ingested
    checked = 0
    for line_number, (type_, case, event, reason) in enumerate(ALL_CASES, start=1):
        if type_ != event_type:
            continue
        checked += 1
        if reason is None:
            assert line_number not in rejects, (case, rejects.get(line_number))
            row = events[event["event_id"]]
            assert row[1] == event_type
            # the null fields come out as SQL NULL
            assert row[3] is None and row[4] is None, case  # channel, page_url
            if event_type == "impression" and case == "optional nulls":
                assert row[2] is None  # conversation_id
            else:
                assert row[2] == "c-1"
            if case == "properties null":
                assert row[5] == "{}"
            assert row[6:] == (None,) * 6, case  # every optional property
            assert json.loads(row[5]) == (event["properties"] or {})
        else:
            assert rejects.get(line_number) == reason, case
            assert event["event_id"] not in events
    assert checked >= 3


def test_required_property_null_cases_exist():
    """The types with required properties have a null case for each of them."""
    names = {case for t, case, _, _ in ALL_CASES if t == "api_call"}
    assert {"properties.api null", "properties.status_code null"} <= names
