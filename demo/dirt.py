"""Lines the pipeline must reject or skip: malformed lines covering every rejection reason of
the contract (section 1, "Rejected lines"), and blank lines.

Each malformed line is a valid `user_message` broken one way; the variants are used in turn
across the run, so that every reason occurs once there are at least as many malformed lines as
variants.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from demo.catalogue import Catalogue
from demo.rhythm import HOUR_MS, WINDOW_MS, Plan
from ingest.vocabulary import (
    CONFIDENCE_RANGE,
    MAX_LEAD_HOURS,
    MIN_DURATION_MS,
    RATING_RANGE,
    STATUS_CODE_RANGE,
)

# The contract's reasons to reject a line, in its order.
REJECTION_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "empty_field",
    "unknown_event_type",
    "bad_timestamp",
    "occurred_after_received",
    "properties_not_object",
    "bad_properties",
)
MALFORMED_RATE = 0.0005  # of valid events
BLANK_LINES_PER_WINDOW = 0.2  # on average, and one in the first window


def _iso(ms: int) -> str:
    instant = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(event: dict, **changes: object) -> str:
    return json.dumps({**event, **changes})


def _without(event: dict, field: str) -> str:
    return json.dumps({k: v for k, v in event.items() if k != field})


def _truncated(event: dict, _: int) -> str:
    return json.dumps(event)[: len(json.dumps(event)) // 2]


Breaker = Callable[[dict, int], str]  # (valid event, its receipt ms) -> the malformed line

MALFORMED: tuple[tuple[str, Breaker], ...] = (
    ("not_json", _truncated),
    ("not_json", lambda e, _: "<html><body>502 Bad Gateway</body></html>"),
    ("not_object", lambda e, _: json.dumps(list(e.values()))),
    ("not_object", lambda e, _: "null"),
    ("missing_field", lambda e, _: _without(e, "visitor_id")),
    ("missing_field", lambda e, _: _without(e, "conversation_id")),
    ("missing_field", lambda e, _: _json(e, organization=None)),
    ("empty_field", lambda e, _: _json(e, bot="")),
    ("empty_field", lambda e, _: _json(e, event_id="")),
    ("unknown_event_type", lambda e, _: _json(e, event_type="page_view")),
    ("bad_timestamp", lambda e, _: _json(e, occurred_at=e["occurred_at"][:-1])),  # no offset
    ("bad_timestamp", lambda e, _: _json(e, received_at="20/11/2026 10:15:03")),
    (
        "occurred_after_received",
        lambda e, received: _json(e, occurred_at=_iso(received + (MAX_LEAD_HOURS + 1) * HOUR_MS)),
    ),
    ("properties_not_object", lambda e, _: _json(e, properties="text=hello")),
    ("properties_not_object", lambda e, _: _json(e, properties=["hello"])),
    (
        "bad_properties",
        lambda e, _: _json(e, event_type="intent_matched", properties={"confidence": 0.91}),
    ),
    (
        "bad_properties",
        lambda e, _: _json(
            e,
            event_type="intent_matched",
            properties={"intent": "greeting", "confidence": CONFIDENCE_RANGE[1] + 0.7},
        ),
    ),
    (
        "bad_properties",
        lambda e, _: _json(
            e,
            event_type="api_call",
            properties={"api": "orders-api", "status_code": STATUS_CODE_RANGE[1] + 101},
        ),
    ),
    (
        "bad_properties",
        lambda e, _: _json(
            e,
            event_type="api_call",
            properties={
                "api": "orders-api",
                "status_code": 200,
                "duration_ms": MIN_DURATION_MS - 40,
            },
        ),
    ),
    (
        "bad_properties",
        lambda e, _: _json(e, event_type="feedback", properties={"rating": RATING_RANGE[1] + 2}),
    ),
    ("bad_properties", lambda e, _: _json(e, event_type="goal", properties={"goal": ""})),
)


def malformed_total(events: int) -> int:
    """Malformed lines in a run of `events` valid events: at least one of each variant."""
    return max(len(MALFORMED), round(events * MALFORMED_RATE))


@dataclass(frozen=True)
class Junk:
    """A window's malformed and blank lines: their text (without newline) and, for malformed
    ones, the index of their reason in `REJECTION_REASONS` (-1 for a blank line)."""

    lines: list[bytes]
    reasons: np.ndarray

    def reordered(self, order: np.ndarray) -> Junk:
        return Junk([self.lines[i] for i in order], self.reasons[order])


def _valid_message(catalogue: Catalogue, rng: np.random.Generator, received: int) -> dict:
    bot = int(rng.integers(len(catalogue.bot_names)))
    return {
        "event_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "event_type": "user_message",
        "occurred_at": _iso(received - int(rng.integers(50, 5_000))),
        "received_at": _iso(received),
        "organization": catalogue.org_names[catalogue.bot_org[bot]],
        "bot": catalogue.bot_names[bot],
        "visitor_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "conversation_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "channel": "web",
        "properties": {"text": "hello"},
    }


def junk_lines(
    plan: Plan, catalogue: Catalogue, rng: np.random.Generator, window: int, dirt: bool
) -> tuple[Junk, np.ndarray]:
    """The malformed and blank lines received in `window`, and when each was received."""
    count = int(plan.malformed[window])
    blanks = int(rng.poisson(BLANK_LINES_PER_WINDOW)) + (window == 0) if dirt else 0
    received = plan.window_start_ms(window) + rng.integers(0, WINDOW_MS, count + blanks)
    lines, reasons = [], []
    for i in range(count):
        reason, breaker = MALFORMED[(int(plan.malformed_first[window]) + i) % len(MALFORMED)]
        event = _valid_message(catalogue, rng, int(received[i]))
        lines.append(breaker(event, int(received[i])).encode())
        reasons.append(REJECTION_REASONS.index(reason))
    junk = Junk(lines + [b""] * blanks, np.array(reasons + [-1] * blanks, dtype=np.int8))
    return junk, received
