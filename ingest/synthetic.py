"""Synthetic messenger events: deterministic, realistic landing files for demos and load tests.

`generate()` writes `OUT/YYYY-MM-DD/events-YYYYMMDD-HH00.ndjson[.gz]` files shaped like the raw
events of the metrics contract (section 1). Every day is cut
into `WINDOWS_PER_DAY` delivery windows; each window is one file holding the lines *received* in
it, ordered by `received_at`, so the folder date is the UTC delivery day.

How the traffic is modelled (all of it vectorised with numpy, serialised by DuckDB):

* visits to the bots' host pages follow a weekday and hour-of-day rhythm; a visit is one or more
  page loads (`impression`) by a visitor drawn from a heavy-tailed pool of returning devices;
* some visits start a conversation: `conversation_start`, a greeting, then turns of
  `user_message` -> `intent_matched` -> optional `api_call` / `goal` -> `bot_message`, and at the
  end optional `handover`, `feedback` and `conversation_end`. A conversation may pursue one of
  its bot's KPI use cases (start goal, then success / failure goal, or abandoned). User gaps are
  mostly seconds, sometimes beyond the 10-minute session limit (exactly 10:00 included) and
  sometimes a next-day return;
* with `dirt=True`: redelivered duplicates, late arrivals, malformed lines covering every
  rejection reason of the contract, and a few blank lines.

The same arguments always produce byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

# ----------------------------------------------------------------------------------------------
# Catalogue: organisations, bots, use cases, intents and what users type.


@dataclass(frozen=True)
class UseCase:
    """A KPI use case: its goal names are what a `kpiDashboards` entry refers to."""

    title: str
    intent: str
    api: str
    start: str
    success: str
    failure: str
    failure_reasons: tuple[str, ...]


@dataclass(frozen=True)
class BotProfile:
    name: str
    share: float  # share of all visits
    engagement: float  # probability that a visit starts a conversation
    use_cases: tuple[UseCase, ...]
    intents: tuple[str, ...]  # further intents besides the use cases' and `fallback`
    apis: tuple[str, ...]  # further API connector aliases
    web_paths: tuple[str, ...]
    app_screens: tuple[str, ...]


ORGANIZATIONS = ("acme-retail", "globex-bank")

BOTS = (
    BotProfile(
        name="ClassicFlow",
        share=0.45,
        engagement=0.24,
        use_cases=(
            UseCase(
                "Password reset",
                "reset_password",
                "identity-api",
                "pw_reset_start",
                "pw_reset_done",
                "pw_reset_failed",
                ("account_locked", "email_not_found", "timeout"),
            ),
            UseCase(
                "Order status",
                "order_status",
                "orders-api",
                "order_status_start",
                "order_status_done",
                "order_status_failed",
                ("order_not_found", "backend_unavailable"),
            ),
        ),
        intents=("greeting", "opening_hours", "returns_policy", "store_locator", "talk_to_agent"),
        apis=("crm-lookup", "knowledge-base"),
        web_paths=("/", "/help", "/account/login", "/orders"),
        app_screens=("home", "orders"),
    ),
    BotProfile(
        name="HelpDeskBot",
        share=0.30,
        engagement=0.30,
        use_cases=(
            UseCase(
                "Ticket creation",
                "create_ticket",
                "servicenow",
                "ticket_create_start",
                "ticket_created",
                "ticket_create_failed",
                ("missing_details", "backend_unavailable"),
            ),
            UseCase(
                "Product return",
                "start_return",
                "returns-api",
                "return_start",
                "return_done",
                "return_failed",
                ("outside_return_window", "item_not_eligible"),
            ),
        ),
        intents=("greeting", "ticket_status", "opening_hours", "talk_to_agent"),
        apis=("knowledge-base",),
        web_paths=("/support", "/support/tickets", "/returns"),
        app_screens=("support",),
    ),
    BotProfile(
        name="LoanAdvisor",
        share=0.25,
        engagement=0.18,
        use_cases=(
            UseCase(
                "Loan quote",
                "loan_quote",
                "credit-score",
                "loan_quote_start",
                "loan_quote_done",
                "loan_quote_failed",
                ("credit_check_failed", "amount_too_high"),
            ),
            UseCase(
                "Appointment booking",
                "book_appointment",
                "calendar",
                "appointment_start",
                "appointment_booked",
                "appointment_failed",
                ("no_slots_available",),
            ),
        ),
        intents=("greeting", "interest_rates", "branch_locator", "talk_to_agent"),
        apis=("crm-lookup",),
        web_paths=("/loans", "/loans/mortgage", "/contact"),
        app_screens=("loans", "appointments"),
    ),
)

FALLBACK = "fallback"

# What users type, per intent; `{n}` is replaced by a random 6-7 digit number. Several carry
# personal data (emails, phone numbers) on purpose: the pipeline must mask them.
USER_TEXTS: dict[str, tuple[str, ...]] = {
    "reset_password": (
        "I forgot my password",
        "reset my password, my email is mary.k{n}@example.com",
        "can't log in, account jdoe{n}@mail.example",
    ),
    "order_status": (
        "where is my order {n}?",
        "order #{n} hasn't arrived",
        "status of my delivery please",
    ),
    "create_ticket": (
        "my laptop won't boot",
        "printer on floor 3 is broken, call me on +353 87 {n}",
        'the VPN says "error {n}"',
    ),
    "start_return": ("I want to return item {n}", "how do I send back my order?"),
    "loan_quote": ("I'd like a quote for a loan of {n} euros", "how much can I borrow?"),
    "book_appointment": (
        "book an appointment with an advisor",
        "can someone call me? my number is 087 {n}",
    ),
    "greeting": ("hi", "hello there", "good morning"),
    "opening_hours": ("when are you open?", "opening hours on sunday?"),
    "returns_policy": ("what is your returns policy?",),
    "store_locator": ("nearest store to Dublin 8", "is there a shop near me?"),
    "ticket_status": ("any update on ticket INC{n}?", "status of my ticket"),
    "interest_rates": ("what are your mortgage rates?", "current interest rate?"),
    "branch_locator": ("where is the closest branch?",),
    "talk_to_agent": ("can I talk to a human please", "agent", "call me back at +44 7700 {n}"),
    FALLBACK: ("asdfgh", "Ça ne marche pas 😕", "my email is anna.{n}@example.org help", "blue"),
}

EVENT_TYPES = (
    "impression",
    "conversation_start",
    "user_message",
    "feedback",
    "bot_message",
    "intent_matched",
    "api_call",
    "goal",
    "handover",
    "conversation_end",
)
(
    IMPRESSION,
    CONVERSATION_START,
    USER_MESSAGE,
    FEEDBACK,
    BOT_MESSAGE,
    INTENT_MATCHED,
    API_CALL,
    GOAL,
    HANDOVER,
    CONVERSATION_END,
) = range(len(EVENT_TYPES))

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

START_ACTIONS = ("start_button", "teaser", "auto_start")
CHANNELS = ("web", "mobile")

# ----------------------------------------------------------------------------------------------
# Rhythm and behaviour parameters.

WINDOWS_PER_DAY = 6  # one landing file per 4 hours
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WINDOW_MS = DAY_MS // WINDOWS_PER_DAY
LATE_MS = HOUR_MS  # a late arrival is received at least this long after it occurred

WEEKDAY_WEIGHT = (1.05, 1.0, 1.0, 0.97, 0.9, 0.45, 0.38)  # Monday .. Sunday
WORKDAY_HOURS = np.array(
    [
        0.10,
        0.07,
        0.05,
        0.05,
        0.06,
        0.10,
        0.22,
        0.45,
        0.80,
        1.00,
        1.00,
        0.95,
        0.90,
        0.95,
        1.00,
        0.95,
        0.85,
        0.70,
        0.55,
        0.45,
        0.38,
        0.30,
        0.22,
        0.15,
    ]
)
WEEKEND_HOURS = np.array(
    [
        0.14,
        0.10,
        0.07,
        0.06,
        0.06,
        0.08,
        0.12,
        0.20,
        0.32,
        0.45,
        0.55,
        0.60,
        0.60,
        0.58,
        0.55,
        0.52,
        0.50,
        0.48,
        0.45,
        0.42,
        0.38,
        0.32,
        0.25,
        0.18,
    ]
)

VISITS_PER_VISITOR = 3.0  # average over a run; the pool is heavy-tailed (index = pool * u**3)
MOBILE_SHARE = 30  # percent of devices
USE_CASE_RATE = 0.55  # of conversations
OUTCOME_P = (0.6, 0.2, 0.2)  # success, failure, abandoned
FALLBACK_RATE = 0.12
API_RATE = 0.15  # per turn, besides the use case's own call
STATUS_CODES = np.array([200, 201, 400, 401, 404, 429, 500, 502, 503])
STATUS_P = (0.90, 0.02, 0.015, 0.01, 0.02, 0.005, 0.02, 0.005, 0.005)
RATING_P = (0.08, 0.07, 0.15, 0.30, 0.40)
# User gap before a turn: normal, beyond the session limit, exactly 10:00, 9:59.999, next day.
GAP_P = (0.925, 0.05, 0.01, 0.005, 0.01)
SESSION_LIMIT_MS = 600_000

# Timestamp forms: `Z` with milliseconds, four offsets of the same instant, epoch milliseconds.
TS_OFFSET_MINUTES = np.array([0, 330, -300, 60, 540, 0])
TS_FORM_P = (0.85, 0.02, 0.02, 0.015, 0.015, 0.08)
TS_EPOCH = len(TS_OFFSET_MINUTES) - 1

# Dirt rates.
DUPLICATE_RATE = 0.01
LATE_RATE = 0.005
MALFORMED_RATE = 0.0005
BLANK_LINES_PER_WINDOW = 0.2
NO_CHANNEL_RATE = 0.03

GZIP_LEVEL = 1  # level 6 is ~15% smaller but 3x slower
SLICE_ROWS = 250_000  # lines serialised per DuckDB query
EVENTS_PER_VISIT = 6.0  # what the model above averages (impressions and conversations)


@dataclass(frozen=True)
class GenerateResult:
    out_dir: Path
    start_date: dt.date
    days: int
    files_written: int
    bytes_written: int
    lines_written: int  # every line, blank and malformed ones included
    valid_events: int  # distinct valid events (first deliveries)
    duplicate_lines: int  # valid redeliveries of an event already delivered
    malformed_lines: int
    malformed_by_reason: dict[str, int]
    blank_lines: int
    late_events: int  # valid events first received >= 1 h after they occurred
    events_by_type: dict[str, int]
    elapsed_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.valid_events / self.elapsed_seconds if self.elapsed_seconds else 0.0


# ----------------------------------------------------------------------------------------------
# The catalogue as lookup arrays.


class _Labels:
    """Strings (page urls, property values, text fragments) interned to integer codes."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        if value not in self._codes:
            self._codes[value] = len(self.values)
            self.values.append(value)
        return self._codes[value]


def _ragged(groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened values with per-group offsets and counts."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    flat = np.array([v for g in groups for v in g], dtype=np.int64)
    return flat, offsets, counts


def _pick(
    rng: np.random.Generator,
    flat: np.ndarray,
    offsets: np.ndarray,
    counts: np.ndarray,
    group: np.ndarray,
) -> np.ndarray:
    """One uniformly chosen member of each row's group."""
    k = (rng.random(len(group)) * counts[group]).astype(np.int64)
    return flat[offsets[group] + k]


class _Catalogue:
    def __init__(self, organizations: int, bots: int) -> None:
        self.org_names = [
            ORGANIZATIONS[i] if i < len(ORGANIZATIONS) else f"org-{i + 1}"
            for i in range(organizations)
        ]
        profiles = [BOTS[i % len(BOTS)] for i in range(bots)]
        self.bot_names = [
            p.name if i < len(BOTS) else f"{p.name}{i // len(BOTS) + 1}"
            for i, p in enumerate(profiles)
        ]
        self.bot_org = np.array([i * organizations // bots for i in range(bots)])
        share = np.array([p.share for p in profiles])
        self.bot_share = share / share.sum()
        self.engagement = np.array([p.engagement for p in profiles])

        lab = self.labels = _Labels()
        self.fallback = lab.code(FALLBACK)
        self.start_actions = np.array([lab.code(a) for a in START_ACTIONS])

        hosted = list(zip(profiles, (self.org_names[o] for o in self.bot_org), strict=True))
        self.web_pages = _ragged(
            [
                [lab.code(f"https://www.{org}.example{path}") for path in p.web_paths]
                for p, org in hosted
            ]
        )
        self.app_pages = _ragged(
            [[lab.code(f"app://{org}/{screen}") for screen in p.app_screens] for p, org in hosted]
        )
        # Intents a turn can match besides fallback; use-case intents first.
        self.intents = _ragged(
            [
                [lab.code(i) for i in (*(u.intent for u in p.use_cases), *p.intents)]
                for p in profiles
            ]
        )
        self.apis = _ragged([[lab.code(a) for a in p.apis] for p in profiles])

        cases = [u for p in profiles for u in p.use_cases]
        self.case_offsets = np.concatenate([[0], np.cumsum([len(p.use_cases) for p in profiles])])
        self.case_counts = np.diff(self.case_offsets)
        self.case_intent = np.array([lab.code(u.intent) for u in cases])
        self.case_api = np.array([lab.code(u.api) for u in cases])
        self.case_goals = np.array(
            [[lab.code(u.start), lab.code(u.success), lab.code(u.failure)] for u in cases]
        )
        self.case_reasons = _ragged([[lab.code(r) for r in u.failure_reasons] for u in cases])

        # User texts: `{n}` splits a template into a prefix and a suffix around a number.
        texts: list[list[int]] = []
        prefix, suffix, numbered = [], [], []
        for intent in lab.values.copy():
            rows = []
            for template in USER_TEXTS.get(intent, ()):
                head, _, tail = template.partition("{n}")
                rows.append(len(prefix))
                prefix.append(lab.code(_json_fragment(head)))
                suffix.append(lab.code(_json_fragment(tail)))
                numbered.append("{n}" in template)
            texts.append(rows)
        self.texts = _ragged(texts)  # indexed by intent label code
        self.text_prefix, self.text_suffix = np.array(prefix), np.array(suffix)
        self.text_numbered = np.array(numbered)

        # Dictionaries of the serialised string columns.
        self.label_values = pa.array(lab.values, type=pa.string())
        self.org_values = pa.array(self.org_names, type=pa.string())
        self.bot_values = pa.array(self.bot_names, type=pa.string())


def _json_fragment(text: str) -> str:
    """`text` escaped for use inside a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


# ----------------------------------------------------------------------------------------------
# Vectorised helpers.

_M1, _M2, _GOLDEN = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that scatters consecutive inputs."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _salt(seed: int, domain: int) -> np.uint64:
    return _mix64(np.array([(seed * 16 + domain) % 2**64], dtype=np.uint64))[0]


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return (np.cumsum(counts) - counts).astype(np.int64)


def _segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive running sums of `values`, restarting for each segment (all counts >= 1)."""
    total = np.cumsum(values)
    starts = _segment_starts(counts)
    return total - np.repeat(total[starts] - values[starts], counts)


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _strings(
    chars: np.ndarray, keep: np.ndarray | None = None, valid: np.ndarray | None = None
) -> pa.Array:
    """The rows of a uint8 char matrix as arrow strings; `keep` masks the columns a row uses."""
    n, width = chars.shape
    if keep is None:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        data = np.ascontiguousarray(chars)
    else:
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=offsets[1:])
        data = chars[keep]
    return pa.Array.from_buffers(
        pa.large_string(), n, [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _numbers(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A numeric arrow array with nulls where not `valid`."""
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype),
        len(values),
        [_bitmap(valid), pa.py_buffer(np.ascontiguousarray(values))],
    )


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_COLUMNS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]


def _uuids(keys: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Version-4 UUID strings; distinct keys give distinct UUIDs."""
    n = len(keys)
    words = np.stack([_mix64(keys), _mix64(keys ^ _GOLDEN)], axis=1).astype(">u8")
    octets = words.view(np.uint8).reshape(n, 16)
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[octets >> 4], _HEX[octets & 15]
    chars[:, _UUID_HEX_COLUMNS] = digits
    chars[:, 14] = ord("4")
    chars[:, 19] = _HEX[8 + (octets[:, 8] & 3)]
    return _strings(chars, valid=valid)


def _put_digits(chars: np.ndarray, start: int, width: int, values: np.ndarray) -> None:
    for i in range(width):
        chars[:, start + width - 1 - i] = 48 + (values // 10**i) % 10


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _timestamp_keep() -> np.ndarray:
    """For each form and with / without milliseconds: the columns of the widest layout,
    `"2026-11-20T15:45:03.120+05:30"`, that the form keeps."""
    keep = np.zeros((len(TS_OFFSET_MINUTES), 2, 31), dtype=bool)
    for form, minutes in enumerate(TS_OFFSET_MINUTES):
        if form == TS_EPOCH:
            keep[form, :, :13] = True
            continue
        keep[form, :, :20] = True
        keep[form, 1, 20:24] = True  # ".mmm"
        keep[form, :, 24:30] = minutes != 0  # "+05:30"
        keep[form, :, 24] = True  # or "Z"
        keep[form, :, 30] = True
    return keep


_TS_TEMPLATE = np.frombuffer(b'"0000-00-00T00:00:00.000+00:00"', dtype=np.uint8)
_TS_KEEP = _timestamp_keep()
_TS_SUFFIX = np.array(
    [
        np.frombuffer(
            f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}".encode(), dtype=np.uint8
        )
        for m in TS_OFFSET_MINUTES
    ]
)
_TS_SUFFIX[TS_OFFSET_MINUTES == 0, 0] = ord("Z")


def _timestamps(ms: np.ndarray, form: np.ndarray) -> pa.Array:
    """JSON values (quoted RFC 3339 strings or bare epoch milliseconds) for `ms` in `form`;
    strings leave out the milliseconds when they are zero."""
    local = ms + TS_OFFSET_MINUTES[form] * 60_000
    days, in_day = np.divmod(local, DAY_MS)
    year, month, day = _civil_from_days(days)
    chars = np.empty((len(ms), 31), dtype=np.uint8)
    chars[:] = _TS_TEMPLATE
    for start, width, values in (
        (1, 4, year),
        (6, 2, month),
        (9, 2, day),
        (12, 2, in_day // HOUR_MS),
        (15, 2, in_day // 60_000 % 60),
        (18, 2, in_day // 1000 % 60),
        (21, 3, in_day % 1000),
    ):
        _put_digits(chars, start, width, values)
    chars[:, 24:30] = _TS_SUFFIX[form]
    epoch = np.flatnonzero(form == TS_EPOCH)
    epoch_chars = np.empty((len(epoch), 13), dtype=np.uint8)
    _put_digits(epoch_chars, 0, 13, ms[epoch])
    chars[epoch, :13] = epoch_chars
    return _strings(chars, _TS_KEEP[form, (in_day % 1000 > 0).astype(np.int64)])


# ----------------------------------------------------------------------------------------------
# Traffic: visits, conversations and their events for one delivery window.

Frame = dict[str, np.ndarray]

_DEFAULTS: dict[str, tuple[type, float]] = {  # column -> (dtype, value when a part lacks it)
    "etype": (np.int8, -1),
    "occ": (np.int64, 0),
    "visit": (np.int64, 0),
    "conv": (np.int64, -1),
    "page": (np.int64, -1),
    "lab": (np.int64, -1),
    "lab2": (np.int64, -1),
    "num": (np.int64, -1),
    "val": (np.float64, np.nan),
}


def _concat(parts: list[Frame], columns: dict[str, tuple[type, float]]) -> Frame:
    sizes = [len(next(iter(p.values()))) for p in parts]
    return {
        name: np.concatenate(
            [
                p[name].astype(dtype) if name in p else np.full(k, fill, dtype)
                for p, k in zip(parts, sizes, strict=True)
            ]
        )
        for name, (dtype, fill) in columns.items()
    }


def _take(frame: Frame, rows: np.ndarray | slice) -> Frame:
    return {name: values[rows] for name, values in frame.items()}


@dataclass(frozen=True)
class _Visits:
    """The shape of each visit; enough to count its events before any time is drawn."""

    bot: np.ndarray
    impressions: np.ndarray
    turns: np.ndarray  # 0 when the visit starts no conversation
    case: np.ndarray  # global use-case index, -1 for none
    outcome: np.ndarray  # 0 success, 1 failure, 2 abandoned
    feedback: np.ndarray
    handover: np.ndarray
    end: np.ndarray
    api: np.ndarray  # per turn of the visits' conversations, in visit order
    events: np.ndarray

    def head(self, k: int) -> _Visits:
        visit_fields = {f: getattr(self, f)[:k] for f in self.__dataclass_fields__}
        visit_fields["api"] = self.api[: int(self.turns[:k].sum())]
        return _Visits(**visit_fields)


def _draw_visits(rng: np.random.Generator, cat: _Catalogue, n: int) -> _Visits:
    bot = rng.choice(len(cat.bot_share), n, p=cat.bot_share)
    impressions = rng.geometric(0.55, n)
    chats = rng.random(n) < cat.engagement[bot]
    pursues = chats & (rng.random(n) < USE_CASE_RATE)
    case = np.where(
        pursues, cat.case_offsets[bot] + (rng.random(n) * cat.case_counts[bot]).astype(np.int64), -1
    )
    turns = np.minimum(rng.geometric(0.27, n), 30) * chats
    turns = np.where(pursues, np.maximum(turns, 2), turns)
    outcome = rng.choice(3, n, p=OUTCOME_P)
    feedback = chats & (rng.random(n) < 0.2)
    handover = chats & (rng.random(n) < np.where(pursues & (outcome == 1), 0.2, 0.04))
    end = chats & (rng.random(n) < 0.8)
    turn_visit = np.repeat(np.arange(n), turns)
    first_turn = np.zeros(len(turn_visit), dtype=bool)
    first_turn[_segment_starts(turns[chats])] = True
    api = (rng.random(len(turn_visit)) < API_RATE) | (first_turn & pursues[turn_visit])
    events = (
        impressions
        + chats * (2 + feedback + handover + end)
        + 3 * turns
        + np.bincount(turn_visit, weights=api, minlength=n).astype(np.int64)
        + pursues * (1 + (outcome < 2))
    )
    return _Visits(bot, impressions, turns, case, outcome, feedback, handover, end, api, events)


def _visits_for(rng: np.random.Generator, cat: _Catalogue, target: int) -> _Visits:
    """The first visits whose events reach `target` (overshooting by less than one visit)."""
    if target <= 0:
        return _draw_visits(rng, cat, 0)
    n = int(target / EVENTS_PER_VISIT * 1.2) + 16
    while True:
        visits = _draw_visits(rng, cat, n)
        reached = np.cumsum(visits.events)
        if reached[-1] >= target:
            return visits.head(int(np.searchsorted(reached, target)) + 1)
        n *= 2


def _lognormal_ms(
    rng: np.random.Generator, median_ms: float, sigma: float, n: int, low: float, high: float
) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(median_ms), sigma, n), low, high).astype(np.int64)


@dataclass(frozen=True)
class _Plan:
    """Everything fixed before the first window: sizes, rhythm and salts."""

    start_ms: int
    goal: np.ndarray  # valid events generated by the end of each window
    hour_weight: np.ndarray  # (days, 24)
    malformed: np.ndarray  # malformed lines per window
    malformed_first: np.ndarray  # global index of each window's first malformed line
    pools: np.ndarray  # visitor pool size per organisation
    event_salt: np.uint64
    conversation_salt: np.uint64
    visitor_salt: np.uint64


def _plan(cat: _Catalogue, start: dt.date, days: int, events: int, seed: int, dirt: bool) -> _Plan:
    rng = np.random.default_rng([seed, 0x5EED])
    weekday = [(start + dt.timedelta(days=d)).weekday() for d in range(days)]
    day_weight = (
        np.array([WEEKDAY_WEIGHT[w] for w in weekday])
        * rng.lognormal(0.0, 0.08, days)
        * (1 + 0.003 * np.arange(days))
    )
    shape = np.array([WEEKEND_HOURS if w >= 5 else WORKDAY_HOURS for w in weekday])
    hour_weight = day_weight[:, None] * shape / shape.sum(axis=1, keepdims=True)
    window_weight = hour_weight.reshape(days * WINDOWS_PER_DAY, -1).sum(axis=1)
    goal = np.rint(np.cumsum(window_weight) / window_weight.sum() * events).astype(np.int64)

    malformed_total = max(len(_MALFORMED), round(events * MALFORMED_RATE)) if dirt else 0
    malformed = rng.multinomial(malformed_total, window_weight / window_weight.sum())
    org_share = np.bincount(cat.bot_org, weights=cat.bot_share, minlength=len(cat.org_names))
    visits = events / EVENTS_PER_VISIT * org_share
    pools = np.maximum(8, visits / VISITS_PER_VISITOR).astype(np.int64)
    start_ms = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp() * 1000)
    return _Plan(
        start_ms,
        goal,
        hour_weight,
        malformed,
        _segment_starts(malformed),
        pools,
        _salt(seed, 1),
        _salt(seed, 2),
        _salt(seed, 3),
    )


def _window_events(
    plan: _Plan, cat: _Catalogue, rng: np.random.Generator, window: int, target: int
) -> Frame:
    """The valid events of the visits that begin in `window`, about `target` of them."""
    visits = _visits_for(rng, cat, target)
    nv = len(visits.bot)
    day, part = divmod(window, WINDOWS_PER_DAY)
    hours_per_window = 24 // WINDOWS_PER_DAY
    hours = np.arange(part * hours_per_window, (part + 1) * hours_per_window)
    hour_p = plan.hour_weight[day, hours] / plan.hour_weight[day, hours].sum()
    visit_start = (
        plan.start_ms
        + day * DAY_MS
        + rng.choice(hours, nv, p=hour_p) * HOUR_MS
        + rng.integers(0, HOUR_MS, nv)
    )

    # Impressions: page loads of a visit, tens of seconds apart.
    imp_visit = np.repeat(np.arange(nv), visits.impressions)
    gaps = _lognormal_ms(rng, 45_000, 0.9, len(imp_visit), 1_000, 1_800_000)
    first_imp = _segment_starts(visits.impressions)
    gaps[first_imp] = 0
    imp_at = visit_start[imp_visit] + _segment_cumsum(gaps, visits.impressions)
    parts: list[Frame] = [
        {"etype": np.full(len(imp_visit), IMPRESSION), "occ": imp_at, "visit": imp_visit}
    ]

    # Conversations, started from one of the visit's page loads.
    cv = np.flatnonzero(visits.turns > 0)
    nc, turns, case = len(cv), visits.turns[cv], visits.case[cv]
    conv = np.arange(nc)
    action = rng.choice(3, nc, p=(0.55, 0.30, 0.15))
    delay = np.select(
        [action == 0, action == 1],
        [
            _lognormal_ms(rng, 20_000, 0.9, nc, 1_000, 900_000),
            _lognormal_ms(rng, 8_000, 0.7, nc, 500, 300_000),
        ],
        rng.integers(300, 3_000, nc),
    )
    anchor = first_imp[cv] + (rng.random(nc) * visits.impressions[cv]).astype(np.int64)
    t0 = imp_at[anchor] + delay
    action_label = np.where(rng.random(nc) < 0.97, cat.start_actions[action], -1)
    parts += [
        {
            "etype": np.full(nc, CONVERSATION_START),
            "occ": t0,
            "visit": cv,
            "conv": conv,
            "lab": action_label,
        },
        {
            "etype": np.full(nc, BOT_MESSAGE),
            "occ": t0 + rng.integers(150, 900, nc),
            "visit": cv,
            "conv": conv,
        },
    ]

    # Turns: the user's gap before each message, then the bot's reaction.
    nt = len(visits.api)
    tc = np.repeat(conv, turns)
    first_turn = _segment_starts(turns)
    last_turn = first_turn + turns - 1
    is_first = np.zeros(nt, dtype=bool)
    is_first[first_turn] = True
    kind = rng.choice(len(GAP_P), nt, p=GAP_P)
    gap = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            _lognormal_ms(rng, 20_000, 0.9, nt, 2_000, 540_000),
            rng.integers(SESSION_LIMIT_MS + 1, 3 * HOUR_MS, nt),
            np.full(nt, SESSION_LIMIT_MS),
            np.full(nt, SESSION_LIMIT_MS - 1),
        ],
        rng.integers(20 * HOUR_MS, 30 * HOUR_MS, nt),
    )
    gap[is_first] = _lognormal_ms(rng, 6_000, 0.6, nc, 1_000, 60_000)
    user_at = t0[tc] + _segment_cumsum(gap, turns)
    intent_at = user_at + rng.integers(80, 600, nt)
    api = visits.api
    duration = np.round(np.clip(rng.lognormal(np.log(250), 0.8, nt), 5, 30_000), 1)
    api_at = intent_at + np.ceil(duration).astype(np.int64)
    goal_at = np.where(api, api_at, intent_at) + rng.integers(5, 60, nt)
    bot_at = goal_at + rng.integers(100, 1_200, nt)

    turn_bot = visits.bot[cv][tc]
    pursued = case[tc] >= 0
    intent = np.where(
        rng.random(nt) < FALLBACK_RATE, cat.fallback, _pick(rng, *cat.intents, turn_bot)
    )
    intent[is_first & pursued] = cat.case_intent[case[tc]][is_first & pursued]
    confidence = np.where(
        intent == cat.fallback, rng.uniform(0.05, 0.45, nt), 1 - rng.beta(1.5, 10, nt)
    ).round(3)
    confidence[rng.random(nt) < 0.05] = np.nan
    text = _pick(rng, *cat.texts, intent)
    has_text = rng.random(nt) >= 0.04
    number = np.where(cat.text_numbered[text], rng.integers(100_000, 9_999_999, nt), -1)
    api_label = np.where(
        is_first & pursued, cat.case_api[case[tc]], _pick(rng, *cat.apis, turn_bot)
    )
    status = STATUS_CODES[rng.choice(len(STATUS_CODES), nt, p=STATUS_P)]
    duration[rng.random(nt) < 0.03] = np.nan
    outcome = visits.outcome[cv][tc]
    is_last = np.zeros(nt, dtype=bool)
    is_last[last_turn] = True
    goal_kind = np.where(is_first, 0, np.where(is_last & (outcome < 2), 1 + outcome, -1))
    has_goal = pursued & (goal_kind >= 0)
    goal = cat.case_goals[np.maximum(case[tc], 0), np.maximum(goal_kind, 0)]
    reason = np.where(goal_kind == 2, _pick(rng, *cat.case_reasons, np.maximum(case[tc], 0)), -1)
    turn_visit = cv[tc]
    parts += [
        {
            "etype": np.full(nt, USER_MESSAGE),
            "occ": user_at,
            "visit": turn_visit,
            "conv": tc,
            "lab": np.where(has_text, cat.text_prefix[text], -1),
            "lab2": np.where(has_text, cat.text_suffix[text], -1),
            "num": np.where(has_text, number, -1),
        },
        {
            "etype": np.full(nt, INTENT_MATCHED),
            "occ": intent_at,
            "visit": turn_visit,
            "conv": tc,
            "lab": intent,
            "val": confidence,
        },
        {
            "etype": np.full(int(api.sum()), API_CALL),
            "occ": api_at[api],
            "visit": turn_visit[api],
            "conv": tc[api],
            "lab": api_label[api],
            "num": status[api],
            "val": duration[api],
        },
        {
            "etype": np.full(int(has_goal.sum()), GOAL),
            "occ": goal_at[has_goal],
            "visit": turn_visit[has_goal],
            "conv": tc[has_goal],
            "lab": goal[has_goal],
            "lab2": reason[has_goal],
        },
        {"etype": np.full(nt, BOT_MESSAGE), "occ": bot_at, "visit": turn_visit, "conv": tc},
    ]

    # The conversation's tail, after the last bot answer.
    last_at = bot_at[last_turn]
    handover_at = last_at + rng.integers(500, 3_000, nc)
    feedback_at = last_at + _lognormal_ms(rng, 12_000, 0.6, nc, 2_000, 300_000)
    end_at = np.maximum(handover_at, feedback_at) + rng.integers(30_000, 240_000, nc)
    rating = 1 + rng.choice(5, nc, p=RATING_P)
    for etype, flag, at, extra in (
        (HANDOVER, visits.handover[cv], handover_at, {}),
        (FEEDBACK, visits.feedback[cv], feedback_at, {"num": rating}),
        (CONVERSATION_END, visits.end[cv], end_at, {}),
    ):
        parts.append(
            {
                "etype": np.full(int(flag.sum()), etype),
                "occ": at[flag],
                "visit": cv[flag],
                "conv": conv[flag],
                **{k: v[flag] for k, v in extra.items()},
            }
        )

    events = _concat(parts, _DEFAULTS)

    # Pages for impressions: the bot's web pages or app screens, by the device's channel.
    org = cat.bot_org[visits.bot]
    visitor = (org.astype(np.uint64) << np.uint64(40)) | (
        plan.pools[org] * rng.random(nv) ** 3
    ).astype(np.uint64)
    visitor_key = visitor ^ plan.visitor_salt
    mobile = (_mix64(visitor_key) % np.uint64(100) < MOBILE_SHARE).astype(np.int8)
    imp = events["etype"] == IMPRESSION
    page_bot, page_mobile = visits.bot[imp_visit], mobile[imp_visit]
    events["page"][imp] = np.where(
        page_mobile == 1, _pick(rng, *cat.app_pages, page_bot), _pick(rng, *cat.web_pages, page_bot)
    )
    visit = events.pop("visit")
    conversation = events.pop("conv")
    events["bot"] = visits.bot[visit].astype(np.int16)
    events["vkey"] = visitor_key[visit]
    events["channel"] = mobile[visit]
    conv_counter = (np.uint64(window) << np.uint64(32)) | np.maximum(conversation, 0).astype(
        np.uint64
    )
    events["ckey"] = conv_counter ^ plan.conversation_salt
    return events


def _deliver(
    plan: _Plan, rng: np.random.Generator, events: Frame, window: int, dirt: bool
) -> Frame:
    """Adds event ids, receipt times and timestamp forms; with dirt, late arrivals and copies."""
    n = len(events["occ"])
    counter = (np.uint64(window) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    events["ekey"] = counter ^ plan.event_salt
    occ = events["occ"]
    rec = occ + _lognormal_ms(rng, 400, 1.2, n, 1, 30_000)
    late = np.zeros(n, dtype=bool)
    if dirt:
        late = rng.random(n) < LATE_RATE
        to_midnight = DAY_MS - occ % DAY_MS
        late_delay = np.maximum(LATE_MS, to_midnight + rng.integers(0, 2 * DAY_MS, n))
        rec = np.where(late, occ + late_delay, rec)
    events["rec"] = rec
    events["late"] = late
    events["fo"] = rng.choice(len(TS_FORM_P), n, p=TS_FORM_P).astype(np.int8)
    events["fr"] = rng.choice(len(TS_FORM_P), n, p=TS_FORM_P).astype(np.int8)
    events["channel"][rng.random(n) < NO_CHANNEL_RATE] = -1
    events["kind"] = np.zeros(n, dtype=np.int8)
    events["raw"] = np.full(n, -1, dtype=np.int64)
    events["reason"] = np.full(n, -1, dtype=np.int8)
    if not dirt:
        return events
    copies = _take(events, np.flatnonzero(rng.random(n) < DUPLICATE_RATE))
    k = len(copies["rec"])
    when = rng.choice(3, k, p=(0.35, 0.40, 0.25))  # same instant, seconds later, hours later
    copies["rec"] = copies["rec"] + np.select(
        [when == 0, when == 1],
        [np.zeros(k, dtype=np.int64), rng.integers(1, 60_000, k)],
        rng.integers(HOUR_MS, 30 * HOUR_MS, k),
    )
    copies["kind"][:] = 1
    copies["late"][:] = False
    return {name: np.concatenate([events[name], copies[name]]) for name in events}


# ----------------------------------------------------------------------------------------------
# Malformed and blank lines.


def _iso(ms: int) -> str:
    instant = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _without(event: dict, field: str) -> dict:
    return {k: v for k, v in event.items() if k != field}


# One malformed variant per entry: (reason, line built from a valid user_message event and the
# event's receipt time in ms). Every reason of the contract appears at least once.
_MALFORMED: tuple[tuple[str, Callable[[dict, int], str]], ...] = (
    ("not_json", lambda e, _: json.dumps(e)[: len(json.dumps(e)) // 2]),
    ("not_json", lambda e, _: "<html><body>502 Bad Gateway</body></html>"),
    ("not_object", lambda e, _: json.dumps(list(e.values()))),
    ("not_object", lambda e, _: "null"),
    ("missing_field", lambda e, _: json.dumps(_without(e, "visitor_id"))),
    ("missing_field", lambda e, _: json.dumps(_without(e, "conversation_id"))),
    ("missing_field", lambda e, _: json.dumps({**e, "organization": None})),
    ("empty_field", lambda e, _: json.dumps({**e, "bot": ""})),
    ("empty_field", lambda e, _: json.dumps({**e, "event_id": ""})),
    ("unknown_event_type", lambda e, _: json.dumps({**e, "event_type": "page_view"})),
    ("bad_timestamp", lambda e, _: json.dumps({**e, "occurred_at": e["occurred_at"][:-1]})),
    ("bad_timestamp", lambda e, _: json.dumps({**e, "received_at": "20/11/2026 10:15:03"})),
    (
        "occurred_after_received",
        lambda e, rec: json.dumps({**e, "occurred_at": _iso(rec + 25 * HOUR_MS)}),
    ),
    ("properties_not_object", lambda e, _: json.dumps({**e, "properties": "text=hello"})),
    ("properties_not_object", lambda e, _: json.dumps({**e, "properties": ["hello"]})),
    (
        "bad_properties",
        lambda e, _: json.dumps(
            {**e, "event_type": "intent_matched", "properties": {"confidence": 0.91}}
        ),
    ),
    (
        "bad_properties",
        lambda e, _: json.dumps(
            {
                **e,
                "event_type": "intent_matched",
                "properties": {"intent": "greeting", "confidence": 1.7},
            }
        ),
    ),
    (
        "bad_properties",
        lambda e, _: json.dumps(
            {**e, "event_type": "api_call", "properties": {"api": "orders-api", "status_code": 700}}
        ),
    ),
    (
        "bad_properties",
        lambda e, _: json.dumps(
            {
                **e,
                "event_type": "api_call",
                "properties": {"api": "orders-api", "status_code": 200, "duration_ms": -40},
            }
        ),
    ),
    (
        "bad_properties",
        lambda e, _: json.dumps({**e, "event_type": "feedback", "properties": {"rating": 7}}),
    ),
    (
        "bad_properties",
        lambda e, _: json.dumps({**e, "event_type": "goal", "properties": {"goal": ""}}),
    ),
)


def _junk_lines(
    plan: _Plan, cat: _Catalogue, rng: np.random.Generator, window: int, dirt: bool
) -> tuple[Frame, list[bytes]]:
    """Malformed and blank lines received in `window`: frame rows and their raw text."""
    count = int(plan.malformed[window])
    blanks = int(rng.poisson(BLANK_LINES_PER_WINDOW)) + (window == 0) if dirt else 0
    window_start = plan.start_ms + window * WINDOW_MS
    rec = window_start + rng.integers(0, WINDOW_MS, count + blanks)
    lines, reasons = [], []
    for i in range(count):
        reason, build = _MALFORMED[(int(plan.malformed_first[window]) + i) % len(_MALFORMED)]
        bot = int(rng.integers(len(cat.bot_names)))
        event = {
            "event_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "event_type": "user_message",
            "occurred_at": _iso(int(rec[i]) - int(rng.integers(50, 5_000))),
            "received_at": _iso(int(rec[i])),
            "organization": cat.org_names[cat.bot_org[bot]],
            "bot": cat.bot_names[bot],
            "visitor_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "conversation_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "channel": "web",
            "properties": {"text": "hello"},
        }
        lines.append(build(event, int(rec[i])).encode())
        reasons.append(REJECTION_REASONS.index(reason))
    lines += [b""] * blanks
    n = count + blanks
    frame = {name: np.full(n, fill, dtype) for name, (dtype, fill) in _ROW_COLUMNS.items()}
    frame["rec"] = rec
    frame["kind"] = np.repeat(np.array([2, 3], dtype=np.int8), [count, blanks])
    frame["raw"] = np.arange(n)
    frame["reason"][:count] = reasons
    return frame, lines


_ROW_COLUMNS: dict[str, tuple[type, float]] = {  # a delivered line's columns
    **{k: v for k, v in _DEFAULTS.items() if k not in ("visit", "conv")},
    "rec": (np.int64, 0),
    "bot": (np.int16, 0),
    "vkey": (np.uint64, 0),
    "ckey": (np.uint64, 0),
    "channel": (np.int8, -1),
    "ekey": (np.uint64, 0),
    "late": (np.bool_, False),
    "fo": (np.int8, 0),
    "fr": (np.int8, 0),
    "kind": (np.int8, 0),  # 0 first delivery, 1 duplicate, 2 malformed, 3 blank
    "raw": (np.int64, -1),
    "reason": (np.int8, -1),
}

# ----------------------------------------------------------------------------------------------
# Serialisation: one DuckDB query turns a window's rows into NDJSON lines.

_LINE_SQL = """
SELECT CASE WHEN raw IS NOT NULL THEN raw ELSE concat(
    '{"event_id":"', eid, '","event_type":"', etype, '","occurred_at":', occ,
    ',"received_at":', rec, ',"organization":"', org, '","bot":"', bot,
    '","visitor_id":"', vid, '"',
    ',"conversation_id":"' || cid || '"',
    ',"channel":"' || channel || '"',
    ',"page_url":"' || page || '"',
    ',"properties":' || CASE et
        WHEN 1 THEN '{"start_action":"' || lab || '"}'
        WHEN 2 THEN coalesce('{"text":"' || lab || coalesce(num::VARCHAR, '') || lab2 || '"}',
                             '{}')
        WHEN 3 THEN '{"rating":' || num || '}'
        WHEN 5 THEN '{"intent":"' || lab || '"' || coalesce(',"confidence":' || val, '') || '}'
        WHEN 6 THEN '{"api":"' || lab || '","status_code":' || num
                    || coalesce(',"duration_ms":' || val, '') || '}'
        WHEN 7 THEN '{"goal":"' || lab || '"' || coalesce(',"reason":"' || lab2 || '"', '') || '}'
    END,
    '}') END || chr(10) AS line
FROM batch
"""


_EVENT_TYPE_VALUES = pa.array(EVENT_TYPES, type=pa.string())
_CHANNEL_VALUES = pa.array(CHANNELS, type=pa.string())


def _dictionary(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    """Codes into `values` as a dictionary array; negative codes are nulls."""
    indices = _numbers(np.maximum(codes, 0).astype(np.int32), codes >= 0)
    return pa.DictionaryArray.from_arrays(indices, values)


def _lines(
    con: duckdb.DuckDBPyConnection, cat: _Catalogue, rows: Frame, raw: list[bytes]
) -> list[pa.Array]:
    n = len(rows["rec"])
    is_raw = rows["raw"] >= 0
    raw_rows = np.flatnonzero(is_raw)
    raw_lengths = np.zeros(n, dtype=np.int64)
    raw_lengths[raw_rows] = [len(raw[i]) for i in rows["raw"][raw_rows]]
    raw_offsets = np.concatenate([[0], np.cumsum(raw_lengths)])
    raw_data = b"".join(raw[i] for i in rows["raw"][raw_rows])
    labels = cat.label_values
    batch = pa.table(
        {
            "raw": pa.Array.from_buffers(
                pa.large_string(),
                n,
                [_bitmap(is_raw), pa.py_buffer(raw_offsets), pa.py_buffer(raw_data)],
            ),
            "eid": _uuids(rows["ekey"]),
            "et": rows["etype"],
            "etype": _dictionary(rows["etype"], _EVENT_TYPE_VALUES),
            "occ": _timestamps(rows["occ"], rows["fo"]),
            "rec": _timestamps(rows["rec"], rows["fr"]),
            "org": _dictionary(cat.bot_org[rows["bot"]], cat.org_values),
            "bot": _dictionary(rows["bot"], cat.bot_values),
            "vid": _uuids(rows["vkey"]),
            "cid": _uuids(rows["ckey"], valid=rows["etype"] > IMPRESSION),
            "channel": _dictionary(rows["channel"], _CHANNEL_VALUES),
            "page": _dictionary(rows["page"], labels),
            "lab": _dictionary(rows["lab"], labels),
            "lab2": _dictionary(rows["lab2"], labels),
            "num": _numbers(rows["num"], rows["num"] >= 0),
            "val": _numbers(rows["val"], ~np.isnan(rows["val"])),
        }
    )
    con.register("batch", batch)
    try:
        return con.sql(_LINE_SQL).to_arrow_table().column("line").chunks
    finally:
        con.unregister("batch")


def _string_data(chunk: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array, without copying."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    return memoryview(chunk.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def _write(
    con: duckdb.DuckDBPyConnection,
    cat: _Catalogue,
    rows: Frame,
    raw_lines: list[bytes],
    path: Path,
    compress: bool,
    delivered_ms: int,
) -> int:
    """Serialises a window's rows into the file at `path`, dated (modification time) when its
    window closed, as a platform delivering it then would have, but never in the future (a
    recent file is one still being written); returns the bytes written."""
    with path.open("wb") as raw:
        out = (
            gzip_module.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL
            )
            if compress
            else raw
        )
        for begin in range(0, len(rows["rec"]), SLICE_ROWS):  # bounds the memory per query
            part = _take(rows, slice(begin, begin + SLICE_ROWS))
            for chunk in _lines(con, cat, part, raw_lines):
                out.write(_string_data(chunk))
        if compress:
            out.close()
        size = raw.tell()
    stamp_ns = min(delivered_ms * 1_000_000, time.time_ns())
    os.utime(path, ns=(stamp_ns, stamp_ns))
    return size


# ----------------------------------------------------------------------------------------------
# The public entry point.


def _window_rows(
    plan: _Plan,
    cat: _Catalogue,
    rng: np.random.Generator,
    window: int,
    fresh: Frame,
    dirt: bool,
    stash: dict[int, list[Frame]],
) -> tuple[Frame, list[bytes]]:
    """The lines received in `window`, by receipt time: earlier windows' stashed rows, this
    window's own and its junk. Rows received in a later window go to `stash`; rows received
    after the last window are never delivered."""
    events = _deliver(plan, rng, fresh, window, dirt)
    junk, raw = _junk_lines(plan, cat, rng, window, dirt)
    due = (events["rec"] - plan.start_ms) // WINDOW_MS
    for later in np.unique(due[(due > window) & (due < len(plan.goal))]):
        stash[int(later)].append(_take(events, np.flatnonzero(due == later)))
    rows = _concat(
        [*stash.pop(window, []), _take(events, np.flatnonzero(due == window)), junk], _ROW_COLUMNS
    )
    return _take(rows, np.argsort(rows["rec"], kind="stable")), raw


class _Tally:
    """What has been delivered so far."""

    def __init__(self) -> None:
        self.kinds = np.zeros(4, dtype=np.int64)  # lines by kind
        self.types = np.zeros(len(EVENT_TYPES), dtype=np.int64)
        self.reasons = np.zeros(len(REJECTION_REASONS), dtype=np.int64)
        self.late = 0

    def add(self, rows: Frame) -> None:
        self.kinds += np.bincount(rows["kind"], minlength=4)
        first = rows["kind"] == 0
        self.types += np.bincount(rows["etype"][first], minlength=len(EVENT_TYPES))
        self.reasons += np.bincount(
            rows["reason"][rows["kind"] == 2], minlength=len(REJECTION_REASONS)
        )
        self.late += int(rows["late"][first].sum())


def generate(
    out_dir: Path,
    *,
    days: int = 30,
    events: int = 300_000,
    seed: int = 0,
    start_date: dt.date | None = None,
    gzip: bool = False,
    dirt: bool = True,
    organizations: int = 2,
    bots: int = 3,
    progress: Callable[[str], None] | None = None,
) -> GenerateResult:
    """Writes `days` days of landing files into `out_dir` (same-named files are overwritten).

    `events` is the number of distinct valid events to aim for (events received after the last
    day are not written, so the result is slightly lower). `start_date` defaults to `days` days
    before today (UTC), so the data ends at today's midnight.
    """
    if days < 1 or events < 0 or seed < 0:
        raise ValueError("days must be >= 1, events and seed >= 0")
    if not 1 <= organizations <= bots:
        raise ValueError("need 1 <= organizations <= bots")
    start = start_date or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    if not dt.date(2002, 1, 1) <= start <= dt.date(2200, 1, 1):
        raise ValueError("start_date must be between 2002 and 2200")
    began = time.perf_counter()
    dirt = dirt and events > 0
    cat = _Catalogue(organizations, bots)
    plan = _plan(cat, start, days, events, seed, dirt)
    suffix = ".ndjson.gz" if gzip else ".ndjson"
    stash: dict[int, list[Frame]] = defaultdict(list)  # rows received in a later window
    tally = _Tally()
    files = lines = generated = written = 0
    pending: list[Future[int]] = []
    con = duckdb.connect()
    # One worker serialises and writes window after window (DuckDB and file writes release the
    # GIL) while this thread generates the next windows.
    with ThreadPoolExecutor(max_workers=1) as writer:
        for window in range(days * WINDOWS_PER_DAY):
            rng = np.random.default_rng([seed, window])
            fresh = _window_events(plan, cat, rng, window, int(plan.goal[window]) - generated)
            generated += len(fresh["occ"])
            rows, raw = _window_rows(plan, cat, rng, window, fresh, dirt, stash)
            tally.add(rows)
            day = start + dt.timedelta(days=window // WINDOWS_PER_DAY)
            if len(rows["rec"]):
                hour = window % WINDOWS_PER_DAY * 24 // WINDOWS_PER_DAY
                folder = Path(out_dir) / day.isoformat()
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"events-{day:%Y%m%d}-{hour:02d}00{suffix}"
                while len(pending) > 1:  # bounds the windows waiting for the writer
                    written += pending.pop(0).result()
                delivered_ms = plan.start_ms + (window + 1) * WINDOW_MS
                pending.append(writer.submit(_write, con, cat, rows, raw, path, gzip, delivered_ms))
                files += 1
                lines += len(rows["rec"])
            if progress and (window + 1) % WINDOWS_PER_DAY == 0:
                progress(
                    f"{day}: {files} files, {lines:,} lines, {int(tally.kinds[0]):,} events "
                    f"({time.perf_counter() - began:.1f} s)"
                )
        written += sum(f.result() for f in pending)
    con.close()
    return GenerateResult(
        out_dir=Path(out_dir),
        start_date=start,
        days=days,
        files_written=files,
        bytes_written=written,
        lines_written=lines,
        valid_events=int(tally.kinds[0]),
        duplicate_lines=int(tally.kinds[1]),
        malformed_lines=int(tally.kinds[2]),
        malformed_by_reason=dict(zip(REJECTION_REASONS, tally.reasons.tolist(), strict=True)),
        blank_lines=int(tally.kinds[3]),
        late_events=tally.late,
        events_by_type=dict(zip(EVENT_TYPES, tally.types.tolist(), strict=True)),
        elapsed_seconds=time.perf_counter() - began,
    )
