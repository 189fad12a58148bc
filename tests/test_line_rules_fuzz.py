"""Fuzzing the line rules: generated lines through the real ingest, against an oracle.

Hypothesis generates batches of lines: valid events of every type, then mutated (nulls, wrong
types, huge and odd numbers, deep nesting, unicode, odd timestamps, duplicate keys, a byte-order
mark, CRLF endings, very long lines, cut lines). Each batch is written as a landing file and run
through `ingest_day`; the decision for every line (accepted, or the exact reason) and the typed
fields of the accepted events are compared with `expected`, a small implementation of the
contract's rules (section 1) in plain Python, written here on purpose without `ingest.validate`.
The choices where the contract is silent are docs/input-rules.md.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.raw_layer import events_glob, ingest_day, rejects_glob

DAY = "2026-11-20"

# ---------------------------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------------------------

TYPES = (
    "impression", "conversation_start", "user_message", "feedback", "bot_message",
    "intent_matched", "api_call", "goal", "handover", "conversation_end",
)  # fmt: skip
START_ACTIONS = ("start_button", "teaser", "auto_start")
BOM = "\ufeff"
BLANK = " \t\r\n"  # JSON's whitespace: a line of only these is blank, a required string empty
EPOCH = dt.datetime(1970, 1, 1)
TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
INVALID_TS = (
    "invalid timestamp in {}: neither RFC 3339 with a UTC offset nor integer epoch milliseconds"
)


class Number:
    """A JSON number as written: `integer` when it has no fraction and no exponent."""

    def __init__(self, text: str, integer: bool) -> None:
        self.text, self.integer = text, integer

    @property
    def value(self) -> float:
        return float(self.text)  # 1e400 and 400-digit integers are infinite


class Invalid(Exception):
    pass


def _first_wins(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        out.setdefault(key, value)  # of duplicate keys, the first wins
    return out


def _constant(name: str) -> object:
    raise Invalid(name)


def _has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def parse_json(text: str, **hooks) -> object:
    """Strict JSON (no NaN, no lone surrogate), first key wins; raises Invalid."""
    try:
        value = json.loads(text, object_pairs_hook=_first_wins, parse_constant=_constant, **hooks)
    except (ValueError, RecursionError, Invalid) as error:
        raise Invalid(str(error)) from None
    if _has_lone_surrogate(value):  # json.loads lets "\ud800" through; it is no UTF-8 text
        raise Invalid("lone surrogate")
    return value


def _timestamp(value: object) -> dt.datetime | None:
    """RFC 3339 with an offset, or integer epoch milliseconds; UTC, naive; years 1 to 9999."""
    try:
        if isinstance(value, Number):
            if not value.integer:
                return None
            return EPOCH + dt.timedelta(milliseconds=int(value.text))
        if not isinstance(value, str):
            return None
        m = TIMESTAMP.fullmatch(value)
        if not m:
            return None
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        fraction, sign, off_h, off_m = m.groups()[6:]
        if h > 23 or mi > 59 or s > 59:  # no hour 24, no leap second
            return None
        micro = int((fraction or "")[:6].ljust(6, "0"))  # truncated to microseconds
        local = dt.datetime(y, mo, d, h, mi, s, micro)
        if sign is None:
            return local
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
        return local - offset if sign == "+" else local + offset
    except (ValueError, OverflowError):
        return None


def expected(line: str) -> tuple[str, object] | None:
    """None for a blank line, ("rejected", reason) or ("accepted", typed fields)."""
    doc = line[1:] if line.startswith(BOM) else line
    if doc.strip(BLANK) == "":
        return None
    try:
        event = parse_json(
            doc, parse_int=lambda t: Number(t, True), parse_float=lambda t: Number(t, False)
        )
    except Invalid:
        return "rejected", "not valid JSON"
    if not isinstance(event, dict):
        return "rejected", "not a JSON object"

    def given_(field: str, where: dict = event) -> bool:
        return where.get(field) is not None  # null is absent

    for field in ("event_id", "event_type", "organization", "bot", "visitor_id"):
        if not given_(field):
            return "rejected", f"missing required field: {field}"
        if not isinstance(event[field], str):
            return "rejected", f"field {field} must be a string"
        if event[field].strip(BLANK) == "":
            return "rejected", f"empty required field: {field}"
    event_type = event["event_type"]
    if event_type not in TYPES:
        return "rejected", f"unknown event_type: {event_type}"
    stamps = {}
    for field in ("occurred_at", "received_at"):
        if not given_(field):
            return "rejected", f"missing required field: {field}"
        stamps[field] = _timestamp(event[field])
        if stamps[field] is None:
            return "rejected", INVALID_TS.format(field)
    if stamps["occurred_at"] - stamps["received_at"] > dt.timedelta(hours=24):
        return "rejected", "occurred_at is more than 24 hours after received_at"
    if event_type != "impression":
        if not given_("conversation_id"):
            return "rejected", "missing required field: conversation_id"
        if not isinstance(event["conversation_id"], str):
            return "rejected", "field conversation_id must be a string"
        if event["conversation_id"].strip(BLANK) == "":
            return "rejected", "empty required field: conversation_id"
    for field in ("conversation_id", "channel", "page_url"):
        if given_(field) and not isinstance(event[field], str):
            return "rejected", f"field {field} must be a string"
    props = event.get("properties")
    if props is not None and not isinstance(props, dict):
        return "rejected", "properties is not an object"
    props = props or {}

    def number_in(name: str, low: float, high: float, integer: bool) -> bool:
        v = props.get(name)
        if not isinstance(v, Number) or (integer and not v.integer):
            return False
        return math.isfinite(v.value) and low <= v.value <= high

    def non_empty(name: str) -> bool:
        return isinstance(props.get(name), str) and props[name].strip(BLANK) != ""

    rule = f"{event_type}: properties."
    start_action = props.get("start_action")
    if event_type == "conversation_start" and start_action not in (None, *START_ACTIONS):
        return "rejected", rule + "start_action must be one of " + ", ".join(START_ACTIONS)
    if (
        event_type == "user_message"
        and given_("text", props)
        and not isinstance(props["text"], str)
    ):
        return "rejected", rule + "text must be a string"
    if event_type == "feedback" and not number_in("rating", 1, 5, integer=True):
        return "rejected", rule + "rating must be an integer from 1 to 5"
    if event_type == "intent_matched":
        if not non_empty("intent"):
            return "rejected", rule + "intent must be a non-empty string"
        if given_("confidence", props) and not number_in("confidence", 0, 1, integer=False):
            return "rejected", rule + "confidence must be a number from 0 to 1"
    if event_type == "api_call":
        if not non_empty("api"):
            return "rejected", rule + "api must be a non-empty string"
        if not number_in("status_code", 100, 599, integer=True):
            return "rejected", rule + "status_code must be an integer from 100 to 599"
        if given_("duration_ms", props) and not number_in("duration_ms", 0, math.inf, False):
            return "rejected", rule + "duration_ms must be a number >= 0"
    if event_type == "goal" and not non_empty("goal"):
        return "rejected", rule + "goal must be a non-empty string"
    return "accepted", {
        "event_id": event["event_id"],
        "event_type": event_type,
        "occurred_at": stamps["occurred_at"],
        "received_at": stamps["received_at"],
        "organization": event["organization"],
        "bot": event["bot"],
        "visitor_id": event["visitor_id"],
        "conversation_id": event.get("conversation_id"),
        "channel": event.get("channel"),
        "page_url": event.get("page_url"),
        "properties": _plain(props),
    }


def _plain(value: object) -> object:
    """A parsed value with numbers as floats, to compare with the stored properties text."""
    if isinstance(value, Number):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stored_properties(text: str) -> object:
    return _plain(
        parse_json(
            text, parse_int=lambda t: Number(t, True), parse_float=lambda t: Number(t, False)
        )
    )


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------

# text: any code point (non-BMP, NUL, U+2028, lone surrogates, which JSON escapes as \ud800)
any_text = st.text(st.characters(codec=None), max_size=12)
ids = st.one_of(
    st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=10),
    any_text,
)

VALID_INSTANT = st.datetimes(dt.datetime(1971, 1, 1), dt.datetime(2100, 1, 1))


@st.composite
def rfc3339(draw: st.DrawFn, instant: dt.datetime) -> str:
    """One of the many ways to write the instant as RFC 3339 with an offset."""
    minutes = draw(st.sampled_from([0, 0, 330, -600, 14 * 60, -12 * 60, 23 * 60 + 59, 45]))
    local = instant + dt.timedelta(minutes=minutes)
    sep = draw(st.sampled_from("TTt "))
    digits = draw(st.sampled_from([0, 0, 3, 6, 9]))
    fraction = f"{local.microsecond:06d}{draw(st.sampled_from(['', '999', '123']))}"[:digits]
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{fraction}" if digits else "")
    if minutes == 0 and draw(st.booleans()):
        return text + draw(st.sampled_from("Zz"))
    sign = "+" if minutes >= 0 else "-"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@st.composite
def timestamp_value(draw: st.DrawFn, instant: dt.datetime) -> object:
    if draw(st.integers(0, 3)) == 0:
        return int((instant - EPOCH) / dt.timedelta(milliseconds=1))
    return draw(rfc3339(instant))


ODD_TIMESTAMPS = [
    "2026-11-20T23:59:60Z", "2026-11-20T24:00:00Z", "2026-11-20T10:15:03", "2026-11-20",
    "2026-11-20T10:15:03+24:00", "2026-11-20T10:15:03+14:00", "2026-11-20T10:15:03-00:00",
    "2026-11-20T10:15:03.123456789z", "2026-11-20t10:15:03Z", "2026-11-20 10:15:03+05:30",
    "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-00:01", "2026-11-20T10:15:03.Z", "2026-11-20T10:15Z",
    "2026-11-20T10:15:03+0530", "2026-11-20T10:15:03 Z", " 2026-11-20T10:15:03Z",
    "\uff12\uff10\uff12\uff16-11-20T10:15:03Z", "1763633703120", "", "2026-13-01T00:00:00Z",
    -62135596800000, -62135596800001, 253402300799999, 253402300800000, 2**63 - 1, -(2**63),
    2**64 + 5, -(2**70), 0, 1763633703120.0, 1.7636337e12, True, None, [], {},
]  # fmt: skip

ODD_VALUES = [
    None, None, "", " ", "\t \r\n", " x ", "\u00a0", 0, -1, 1, 3, 5, 6, 100, 599, 600,
    2**63, 2**64 + 1, -(2**64),
    10**30, 3.0, 4.5, -0.0, 1e308, float("inf"), -float("inf"), 0.5, 1.0000000000000002,
    True, False, [], [1], {}, {"a": None}, "5", "fallback", "teaser", "start_button",
    "x" * 300, "\x00", "\ud800", "😀",
]  # fmt: skip


def _deep(depth: int, kind: str) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


odd_value = st.one_of(
    st.sampled_from(ODD_VALUES),
    any_text,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.builds(_deep, st.integers(1, 300), st.sampled_from(["list", "dict"])),
)

REQUIRED_PROPS = {
    "feedback": st.fixed_dictionaries({"rating": st.integers(1, 5)}),
    "intent_matched": st.fixed_dictionaries(
        {"intent": st.sampled_from(["greet", "fallback", "pw_reset"])},
        optional={"confidence": st.floats(0, 1)},
    ),
    "api_call": st.fixed_dictionaries(
        {"api": st.sampled_from(["crm", "billing"]), "status_code": st.integers(100, 599)},
        optional={"duration_ms": st.one_of(st.integers(0, 10**6), st.floats(0, 1e9))},
    ),
    "goal": st.fixed_dictionaries(
        {"goal": st.sampled_from(["pw_reset_start", "pw_reset_done"])},
        optional={"reason": st.one_of(st.none(), any_text)},
    ),
    "conversation_start": st.fixed_dictionaries(
        {}, optional={"start_action": st.sampled_from(START_ACTIONS)}
    ),
    "user_message": st.fixed_dictionaries({}, optional={"text": any_text}),
}
PROPERTY_NAMES = (
    "start_action", "text", "rating", "intent", "confidence", "api", "status_code",
    "duration_ms", "goal", "reason",
)  # fmt: skip
TOP_FIELDS = (
    "event_id", "event_type", "occurred_at", "received_at", "organization", "bot",
    "visitor_id", "conversation_id", "channel", "page_url", "properties",
)  # fmt: skip


@st.composite
def valid_event(draw: st.DrawFn) -> dict:
    event_type = draw(st.sampled_from(TYPES))
    received = draw(VALID_INSTANT)
    lead = draw(
        st.sampled_from(
            [
                dt.timedelta(0),
                dt.timedelta(hours=24),
                dt.timedelta(hours=-48),
                dt.timedelta(milliseconds=-1500),
            ]
        )
    )
    event: dict = {
        "event_id": draw(ids),
        "event_type": event_type,
        "occurred_at": draw(timestamp_value(received + lead)),
        "received_at": draw(timestamp_value(received)),
        "organization": draw(ids),
        "bot": draw(ids),
        "visitor_id": draw(ids),
    }
    if event_type != "impression" or draw(st.booleans()):
        event["conversation_id"] = draw(ids)
    for field in ("channel", "page_url"):
        if draw(st.booleans()):
            event[field] = draw(st.one_of(st.none(), ids))
    props = draw(REQUIRED_PROPS.get(event_type, st.just({})))
    if props or draw(st.booleans()):
        event["properties"] = props
    if draw(st.booleans()):
        event = dict(sorted(event.items(), key=lambda _: draw(st.integers(0, 9))))
    return event


@st.composite
def mutated_event(draw: st.DrawFn) -> dict:
    event = draw(valid_event())
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 9))
        field = draw(st.sampled_from(TOP_FIELDS))
        if kind == 0:
            event.pop(field, None)
        elif kind in (1, 2):
            event[field] = draw(odd_value)
        elif kind in (3, 4):
            event[draw(st.sampled_from(["occurred_at", "received_at"]))] = draw(
                st.sampled_from(ODD_TIMESTAMPS)
            )
        elif kind == 5:
            event["event_type"] = draw(
                st.sampled_from([*TYPES, "Impression", "page_view", " goal", "goal\x00"])
            )
        else:
            props = event.get("properties")
            props = event["properties"] = dict(props) if isinstance(props, dict) else {}
            name = draw(st.sampled_from(PROPERTY_NAMES))
            if kind == 6:
                props.pop(name, None)
            else:
                props[name] = draw(odd_value)
    return event


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@st.composite
def line_text(draw: st.DrawFn) -> str:
    """A line (without its ending): mostly a serialised event, with line-level mutations."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.sampled_from(["", "   ", "[1, 2]", '"x"', "42", "null", "{", "{}"]))
    event = draw(mutated_event())
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if _has_surrogate(text):
        text = json.dumps(event)  # ASCII only: a lone surrogate is written "\ud800"
    # Infinity is no JSON (DuckDB's lenient reader takes it: test_lenient_json): a string here
    text = text.replace("-Infinity", '"-inf"').replace("Infinity", '"inf"')
    if kind == 1:  # a duplicate key: the first occurrence is the one read
        key = draw(st.sampled_from(TOP_FIELDS))
        value = json.dumps(draw(st.one_of(odd_value, st.sampled_from(TYPES))))
        if "Infinity" in value:
            value = "null"
        if text == "{}":
            text = "{" + f'"{key}": {value}' + "}"
        elif draw(st.booleans()):
            text = "{" + f'"{key}": {value}, ' + text[1:]
        else:
            text = text[:-1] + f', "{key}": {value}' + "}"
    elif kind == 2:  # a very long line
        text = text[:-1] + (", " if text != "{}" else "") + f'"pad": "{"y" * 200_000}"' + "}"
    elif kind == 3:  # cut short
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif kind == 4:  # surrounding JSON whitespace
        text = draw(st.sampled_from([" ", "\t", "  "])) + text + draw(st.sampled_from(["", " "]))
    if draw(st.integers(0, 9)) == 0:
        text = BOM + text
    return text


batches = st.lists(
    st.tuples(line_text(), st.sampled_from(["\n", "\n", "\r\n"])), min_size=20, max_size=60
)


# ---------------------------------------------------------------------------------------------
# Running the real ingest
# ---------------------------------------------------------------------------------------------


def run_ingest(lines: list[tuple[str, str]]) -> tuple[dict[int, tuple[str, str]], list[dict]]:
    """Write the lines as one landing file, ingest the day: rejects by line number (reason,
    raw line) and the accepted events."""
    with tempfile.TemporaryDirectory() as tmp:
        landing, raw = Path(tmp) / "landing", Path(tmp) / "raw"
        path = landing / DAY / "fuzz.ndjson"
        path.parent.mkdir(parents=True)
        path.write_bytes("".join(text + end for text, end in lines).encode())
        ingest_day(landing, DAY, raw, log=lambda _: None)
        con = duckdb.connect()
        try:
            rejects = {
                n: (reason, raw_line)
                for n, reason, raw_line in con.execute(
                    f"SELECT line_number, reason, raw_line FROM read_parquet('{rejects_glob(raw)}')"
                ).fetchall()
            }
            cursor = con.execute(
                "SELECT event_id, event_type, occurred_at, received_at, organization, bot, "
                "visitor_id, conversation_id, channel, page_url, properties, line_number "
                f"FROM read_parquet('{events_glob(raw)}')"
            )
            names = [d[0] for d in cursor.description]
            events = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()
    return rejects, events


def check_batch(lines: list[tuple[str, str]]) -> None:
    rejects, events = run_ingest(lines)
    want_rejects: dict[int, tuple[str, str]] = {}
    accepted: dict[int, dict] = {}
    for number, (text, end) in enumerate(lines, start=1):
        decision = expected(text + end)
        if decision is None:
            continue
        if decision[0] == "rejected":
            want_rejects[number] = (decision[1], text + end.rstrip("\n"))
        else:
            accepted[number] = decision[1]
    assert rejects == want_rejects
    # within the day, the copy of an event_id received first is kept (then the first line)
    kept: dict[str, tuple[dt.datetime, int]] = {}
    for number, fields in accepted.items():
        key = (fields["received_at"], number)
        if fields["event_id"] not in kept or key < kept[fields["event_id"]]:
            kept[fields["event_id"]] = key
    want_events = {number: accepted[number] for _, number in kept.values()}
    got_events = {}
    for row in events:
        number = row.pop("line_number")
        row["properties"] = _stored_properties(row["properties"])
        got_events[number] = row
    assert got_events == want_events


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(batches)
def test_ingest_decides_every_line_as_the_contract_says(lines):
    check_batch(lines)


# Odd inputs written out, each through the real ingest and the oracle (docs/input-rules.md).
def _line(**overrides: object) -> str:
    event = {
        "event_id": "e-1",
        "event_type": "impression",
        "occurred_at": "2026-11-20T10:15:03Z",
        "received_at": "2026-11-20T10:15:04Z",
        "organization": "acme",
        "bot": "ClassicFlow",
        "visitor_id": "v-1",
    }
    event.update(overrides)
    return json.dumps(event)


ODD_LINES = {
    "BOM at line start": BOM + _line(),
    "BOM only": BOM,
    "duplicate key, first wins": _line()[:-1] + ', "event_id": "second"}',
    "duplicate event_type, first wins": '{"event_type": "goal", ' + _line()[1:],
    "channel a number": _line(channel=5),
    "page_url an object": _line(page_url={}),
    "impression conversation_id a number": _line(conversation_id=5),
    "impression conversation_id empty": _line(conversation_id=""),
    "leap second": _line(occurred_at="2026-11-20T23:59:60Z"),
    "hour 24": _line(occurred_at="2026-11-20T24:00:00Z"),
    "offset +24:00": _line(occurred_at="2026-11-20T10:15:03+24:00"),
    "offset +14:00": _line(occurred_at="2026-11-20T10:15:03+14:00"),
    "lowercase t and z": _line(occurred_at="2026-11-20t10:15:03.5z"),
    "space separator": _line(occurred_at="2026-11-20 10:15:03Z"),
    "nine fraction digits": _line(occurred_at="2026-11-20T10:15:03.123456789Z"),
    "epoch ms max int64": _line(occurred_at=2**63 - 1),
    "epoch ms beyond int64": _line(occurred_at=2**64 + 5),
    "epoch ms negative, year 1": _line(occurred_at=-62135596800000),
    "epoch ms as float": _line(occurred_at=1763633703120.0),
    "epoch ms as string": _line(occurred_at="1763633703120"),
    "year 0": _line(occurred_at="0000-01-01T00:00:00Z"),
    "year 10000 in UTC": _line(occurred_at="9999-12-31T23:59:59-01:00"),
    "exactly 24h ahead": _line(occurred_at="2026-11-21T10:15:04Z"),
    "24h and 1 microsecond ahead": _line(occurred_at="2026-11-21T10:15:04.000001Z"),
    "rating 3.0": _line(event_type="feedback", conversation_id="c", properties={"rating": 3.0}),
    "rating 2^64": _line(event_type="feedback", conversation_id="c", properties={"rating": 2**64}),
    "confidence 1e400": _line(event_type="intent_matched", conversation_id="c", properties="@")
    .replace('"@"', '{"intent": "x", "confidence": 1e400}'),
    "duration_ms 1e400": _line(event_type="api_call", conversation_id="c", properties="@")
    .replace('"@"', '{"api": "x", "status_code": 200, "duration_ms": 1e400}'),
    "duration_ms -0": _line(event_type="api_call", conversation_id="c", properties="@")
    .replace('"@"', '{"api": "x", "status_code": 200, "duration_ms": -0}'),
    "lone surrogate": _line(event_id="\ud800"),
    "surrogate pair": _line(event_id="\U0001f600"),
    "NUL in a string": _line(event_id="a\x00b"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ODD_LINES))
def test_odd_input(case):
    check_batch([(ODD_LINES[case], "\r\n")])


def test_odd_inputs_decisions():
    """The decisions docs/input-rules.md documents, spelled out."""
    decide = {case: expected(text) for case, text in ODD_LINES.items()}
    assert decide["BOM at line start"][0] == "accepted"
    assert decide["BOM only"] is None
    assert decide["duplicate key, first wins"][1]["event_id"] == "e-1"
    assert decide["duplicate event_type, first wins"] == (
        "rejected",
        "missing required field: conversation_id",
    )
    assert decide["channel a number"] == ("rejected", "field channel must be a string")
    assert decide["impression conversation_id empty"][1]["conversation_id"] == ""
    for case in ("leap second", "hour 24", "offset +24:00", "epoch ms max int64", "year 0"):
        assert decide[case] == ("rejected", INVALID_TS.format("occurred_at")), case
    for case in ("lowercase t and z", "space separator", "offset +14:00", "exactly 24h ahead"):
        assert decide[case][0] == "accepted", case
    assert decide["nine fraction digits"][1]["occurred_at"].microsecond == 123456
    assert decide["rating 3.0"][0] == "rejected"
    assert decide["duration_ms 1e400"][0] == "rejected"
    assert decide["duration_ms -0"][0] == "accepted"
    assert decide["lone surrogate"] == ("rejected", "not valid JSON")


# DuckDB's JSON reader is lenient where strict JSON is not; the oracle does not model it.
LENIENT = {
    "trailing comma": (_line()[:-1] + ", }", None),
    "NaN in an extra property": (
        _line(event_type="goal", conversation_id="c", properties="@").replace(
            '"@"', '{"goal": "g", "score": NaN}'
        ),
        None,
    ),
    "NaN confidence": (
        _line(event_type="intent_matched", conversation_id="c", properties="@").replace(
            '"@"', '{"intent": "x", "confidence": NaN}'
        ),
        "intent_matched: properties.confidence must be a number from 0 to 1",
    ),
    "Infinity duration": (
        _line(event_type="api_call", conversation_id="c", properties="@").replace(
            '"@"', '{"api": "x", "status_code": 200, "duration_ms": Infinity}'
        ),
        "api_call: properties.duration_ms must be a number >= 0",
    ),
    "NaN rating": (
        _line(event_type="feedback", conversation_id="c", properties="@").replace(
            '"@"', '{"rating": NaN}'
        ),
        "feedback: properties.rating must be an integer from 1 to 5",
    ),
    "inf as epoch": (
        _line(occurred_at="@").replace('"@"', "inf"),
        INVALID_TS.format("occurred_at"),
    ),
}


@pytest.mark.parametrize("case", list(LENIENT))
def test_lenient_json(case):
    text, reason = LENIENT[case]
    rejects, events = run_ingest([(text, "\n")])
    if reason is None:
        assert rejects == {} and len(events) == 1
    else:
        assert rejects == {1: (reason, text)}


def test_deep_nesting_is_no_limit():
    """100,000 nested arrays in a property (beyond what Python's json module can parse)."""
    text = _line(event_type="goal", conversation_id="c", properties="@").replace(
        '"@"', '{"goal": "g", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    rejects, events = run_ingest([(text, "\n")])
    assert rejects == {} and len(events) == 1
