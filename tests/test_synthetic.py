"""The synthetic landing files, checked line by line against the contract (section 1)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from demo import GenerateResult, generate
from demo.dirt import REJECTION_REASONS
from ingest.vocabulary import EVENT_TYPES

START = dt.date(2026, 3, 2)  # a Monday
DAYS = 7
EVENTS = 20_000
HOUR_MS = 3_600_000

REQUIRED = (
    "event_id",
    "event_type",
    "occurred_at",
    "received_at",
    "organization",
    "bot",
    "visitor_id",
)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def timestamp_ms(value: object) -> int | None:
    """Milliseconds since the epoch of a contract timestamp; None if it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return round(dt.datetime.fromisoformat(value).timestamp() * 1000)
    return None


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_name(value: object) -> bool:
    return isinstance(value, str) and value != ""


def properties_error(event_type: str, props: dict) -> bool:
    """Whether `props` break the required properties of `event_type`."""
    match event_type:
        case "conversation_start":
            return props.get("start_action", "teaser") not in (
                "start_button",
                "teaser",
                "auto_start",
            )
        case "user_message":
            return not isinstance(props.get("text", ""), str)
        case "feedback":
            rating = props.get("rating")
            return not (
                isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5
            )
        case "intent_matched":
            confidence = props.get("confidence", 0.5)
            return not (
                is_name(props.get("intent")) and is_number(confidence) and 0 <= confidence <= 1
            )
        case "api_call":
            status, duration = props.get("status_code"), props.get("duration_ms", 0)
            return not (
                is_name(props.get("api"))
                and isinstance(status, int)
                and not isinstance(status, bool)
                and 100 <= status <= 599
                and is_number(duration)
                and duration >= 0
            )
        case "goal":
            return not is_name(props.get("goal"))
    return False


def rejection(line: str) -> str | None:
    """The contract's reason to reject a non-blank line, None for a valid event."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return "not_json"
    if not isinstance(event, dict):
        return "not_object"
    for field in REQUIRED:
        if event.get(field) is None:
            return "missing_field"
        if event[field] == "":
            return "empty_field"
    if event["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if event["event_type"] != "impression":
        if event.get("conversation_id") is None:
            return "missing_field"
        if event["conversation_id"] == "":
            return "empty_field"
    occurred, received = timestamp_ms(event["occurred_at"]), timestamp_ms(event["received_at"])
    if occurred is None or received is None:
        return "bad_timestamp"
    if occurred - received > 24 * HOUR_MS:
        return "occurred_after_received"
    props = event.get("properties", {})
    if not isinstance(props, dict):
        return "properties_not_object"
    if properties_error(event["event_type"], props):
        return "bad_properties"
    return None


@dataclass
class Line:
    file: Path
    folder: str
    text: str
    event: dict | None  # parsed, when valid

    @property
    def occurred(self) -> int:
        return timestamp_ms(self.event["occurred_at"])

    @property
    def received(self) -> int:
        return timestamp_ms(self.event["received_at"])


def read_landing(root: Path) -> tuple[list[Line], Counter[str], int]:
    """Valid lines, rejection reasons and blank lines of a landing folder."""
    lines, reasons, blank = [], Counter(), 0
    for path in sorted(root.glob("*/*")):
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8")
        assert text.endswith("\n")
        for raw in text[:-1].split("\n"):
            if raw == "":
                blank += 1
            elif (reason := rejection(raw)) is not None:
                reasons[reason] += 1
            else:
                lines.append(Line(path, path.parent.name, raw, json.loads(raw)))
    return lines, reasons, blank


def utc_date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateResult, Path]:
    out = tmp_path_factory.mktemp("dirty")
    messages: list[str] = []
    result = generate(
        out, days=DAYS, events=EVENTS, seed=11, start_date=START, progress=messages.append
    )
    assert len(messages) == DAYS
    return result, out


@pytest.fixture(scope="module")
def dirty_lines(dirty: tuple[GenerateResult, Path]) -> tuple[list[Line], Counter[str], int]:
    return read_landing(dirty[1])


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        generate(tmp_path / name, days=3, events=4_000, seed=seed, start_date=START)
        return files_of(tmp_path / name)

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert first.keys() == other.keys()
    assert first != other


def test_layout_and_gzip(tmp_path: Path) -> None:
    plain = generate(tmp_path / "plain", days=2, events=3_000, seed=3, start_date=START)
    packed = generate(tmp_path / "gz", days=2, events=3_000, seed=3, start_date=START, gzip=True)
    plain_files, packed_files = files_of(tmp_path / "plain"), files_of(tmp_path / "gz")
    assert {name.split("/")[0] for name in plain_files} == {"2026-03-02", "2026-03-03"}
    assert all(
        re.fullmatch(r"2026-03-0[23]/events-2026030[23]-\d{2}00\.ndjson", n) for n in plain_files
    )
    assert len(plain_files) == plain.files_written == 12  # several files per day
    assert {n + ".gz" for n in plain_files} == packed_files.keys()
    for name, data in plain_files.items():
        assert gzip.decompress(packed_files[name + ".gz"]) == data
    assert packed.valid_events == plain.valid_events
    assert plain.bytes_written == sum(len(d) for d in plain_files.values())


def test_every_line_follows_the_contract(
    dirty: tuple[GenerateResult, Path], dirty_lines: tuple[list[Line], Counter[str], int]
) -> None:
    result, _ = dirty
    lines, reasons, blank = dirty_lines
    assert len(lines) + sum(reasons.values()) + blank == result.lines_written
    assert blank == result.blank_lines > 0
    assert sum(reasons.values()) == result.malformed_lines
    assert reasons == Counter({k: v for k, v in result.malformed_by_reason.items() if v})
    assert set(reasons) == set(REJECTION_REASONS)  # every rejection reason occurs

    first: dict[str, Line] = {}
    for line in lines:
        event = line.event
        assert (event["event_type"] == "impression") == ("conversation_id" not in event)
        assert event.get("channel", "web") in ("web", "mobile")
        assert ("page_url" in event) == (event["event_type"] == "impression")
        assert utc_date(line.received) == line.folder  # the folder is the delivery day
        assert line.occurred <= line.received
        known = first.setdefault(event["event_id"], line)
        if known is not line:  # a redelivery: same content, received no earlier
            assert {**known.event, "received_at": None} == {**event, "received_at": None}
            assert line.received >= known.received
    assert len(first) == result.valid_events
    assert len(lines) - len(first) == result.duplicate_lines
    assert result.duplicate_lines == pytest.approx(0.01 * result.valid_events, rel=0.3)
    late = [line for line in first.values() if line.received - line.occurred >= HOUR_MS]
    assert len(late) == result.late_events
    assert result.late_events == pytest.approx(0.005 * result.valid_events, rel=0.35)
    assert all(line.folder > utc_date(line.occurred) for line in late)
    assert all(line.received - line.occurred <= 72 * HOUR_MS for line in late)
    counts = Counter(line.event["event_type"] for line in first.values())
    assert counts == Counter({k: v for k, v in result.events_by_type.items() if v})


def test_files_are_in_delivery_order_with_redeliveries_near_and_far(
    dirty_lines: tuple[list[Line], Counter[str], int],
) -> None:
    lines, _, _ = dirty_lines
    by_file: dict[Path, list[int]] = defaultdict(list)
    files_of_event: dict[str, list[Path]] = defaultdict(list)
    for line in lines:
        by_file[line.file].append(line.received)
        files_of_event[line.event["event_id"]].append(line.file)
    assert all(times == sorted(times) for times in by_file.values())
    copies = [files for files in files_of_event.values() if len(files) > 1]
    assert any(len(set(files)) == 1 for files in copies)  # redelivered in the same file
    assert any(files[0].parent != files[-1].parent for files in copies)  # on another day


def test_clean_output_has_no_dirt(tmp_path: Path) -> None:
    result = generate(tmp_path, days=3, events=6_000, seed=2, start_date=START, dirt=False)
    lines, reasons, blank = read_landing(tmp_path)
    assert not reasons and blank == 0
    assert len({line.event["event_id"] for line in lines}) == len(lines) == result.valid_events
    assert all(line.received - line.occurred < HOUR_MS for line in lines)
    assert (
        result.malformed_lines,
        result.duplicate_lines,
        result.late_events,
        result.blank_lines,
    ) == (0, 0, 0, 0)


def test_volume_mix_and_rhythm(
    dirty: tuple[GenerateResult, Path], dirty_lines: tuple[list[Line], Counter[str], int]
) -> None:
    result, _ = dirty
    lines, _, _ = dirty_lines
    assert abs(result.valid_events - EVENTS) <= 0.05 * EVENTS
    assert all(result.events_by_type[t] > 0 for t in EVENT_TYPES)
    events = {line.event["event_id"]: line for line in lines}.values()

    impressions = [line for line in events if line.event["event_type"] == "impression"]
    moments = [dt.datetime.fromtimestamp(line.occurred / 1000, dt.UTC) for line in impressions]
    workday = Counter(m.hour for m in moments if m.weekday() < 5)
    assert sum(workday[h] for h in range(9, 17)) / 8 > 4 * sum(workday[h] for h in range(6)) / 6
    per_day = Counter(m.date() for m in moments)
    assert per_day[dt.date(2026, 3, 8)] < 0.7 * per_day[dt.date(2026, 3, 4)]  # Sunday, Wednesday

    # Returning visitors: several impressions within one day and on several days.
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for line in impressions:
        seen[line.event["bot"], line.event["visitor_id"]].append(line.occurred)
    assert len(seen) < 0.6 * len(impressions)
    assert any(max(t) - min(t) < 24 * HOUR_MS for t in seen.values() if len(t) >= 3)
    assert any(max(t) - min(t) > 48 * HOUR_MS for t in seen.values())

    # Sessions: user gaps beyond the 10-minute limit, exactly at it, and just below it.
    user_times: dict[str, list[int]] = defaultdict(list)
    for line in events:
        if line.event["event_type"] in ("conversation_start", "user_message", "feedback"):
            user_times[line.event["conversation_id"]].append(line.occurred)
    gaps = Counter()
    for times in user_times.values():
        times.sort()
        for a, b in pairwise(times):
            gaps["over" if b - a > 600_000 else b - a] += 1
    assert gaps["over"] > 0 and gaps[600_000] > 0 and gaps[599_999] > 0

    # Timestamp forms, KPI goals and personal data in user texts.
    forms = Counter()
    for line in events:
        for value in (line.event["occurred_at"], line.event["received_at"]):
            forms[
                "epoch" if isinstance(value, int) else value[-1] if value[-1] == "Z" else "offset"
            ] += 1
    assert forms.keys() == {"epoch", "Z", "offset"}
    goals = Counter(
        line.event["properties"]["goal"] for line in events if line.event["event_type"] == "goal"
    )
    assert {"pw_reset_start", "pw_reset_done", "pw_reset_failed"} <= goals.keys()
    texts = [
        line.event.get("properties", {}).get("text", "")
        for line in events
        if line.event["event_type"] == "user_message"
    ]
    assert any(re.search(r"\S+@\S+\.\w+", text) for text in texts)
    assert any(re.search(r"\+\d+ \d+ \d{6,}", text) for text in texts)
    statuses = Counter(
        line.event["properties"]["status_code"] // 100
        for line in events
        if line.event["event_type"] == "api_call"
    )
    assert statuses[2] > 5 * (statuses[4] + statuses[5]) > 0  # mostly 200, some 4xx/5xx


def test_generate_arguments_it_cannot_honour_are_one_line_errors(tmp_path: Path) -> None:
    """Too many days back, or an output folder that cannot be made: a one-line error and an
    exit code (2 for the arguments, 1 for the folder), no traceback, nothing written."""
    from conftest import sbm

    for days in ("100000", "100000000"):
        too_old = sbm("generate", "--out", tmp_path / "g", "--days", days, check=False)
        assert too_old.returncode == 2
        assert too_old.stderr.startswith("servisbot-metrics: error: the first day must be ")
        assert too_old.stderr.count("\n") == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    unwritable = sbm("generate", "--out", blocked / "g", "--days", "1", check=False)
    assert unwritable.returncode == 1
    assert unwritable.stderr.startswith(f"servisbot-metrics: error: cannot write {blocked}")
    assert not (tmp_path / "g").exists()
