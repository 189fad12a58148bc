"""When and how the platform delivers events: receipt times, the written form of each
timestamp, late arrivals, redelivered duplicates, and which delivery window (landing file)
receives each line.

A window's file holds the lines *received* in it, ordered by `received_at`, so the folder date is
the UTC delivery day. Events received in a later window wait in a stash; events received after
the last window are never delivered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from demo.arrays import Frame, frame_length, lognormal_ms, take_rows
from demo.dirt import Junk
from demo.rhythm import DAY_MS, HOUR_MS, Plan
from demo.traffic import EVENT_COLUMNS

# How a timestamp is written: RFC 3339 at one of these UTC offsets (minutes; 0 is written `Z`,
# milliseconds left out when zero), or epoch milliseconds (form `EPOCH_FORM`).
TIMESTAMP_OFFSETS = (0, 330, -300, 60, 540)
EPOCH_FORM = len(TIMESTAMP_OFFSETS)
TIMESTAMP_FORM_P = (0.85, 0.02, 0.02, 0.015, 0.015, 0.08)

DUPLICATE_RATE = 0.01  # of events, redelivered once more
LATE_RATE = 0.005  # of events, received a day or more after they occurred
LATE_MS = HOUR_MS  # a late arrival is received at least this long after it occurred
NO_CHANNEL_RATE = 0.03  # events without the optional `channel`

# A delivered event's columns: the event's, without the window-local visit and conversation
# numbers, and who sent it and how it is delivered.
LINE_COLUMNS = (
    *(name for name in EVENT_COLUMNS if name not in ("visit", "conversation")),
    "bot",  # index into the catalogue's bots
    "visitor_key",  # uint64 hashed into the visitor_id
    "conversation_key",  # uint64 hashed into the conversation_id
    "channel",  # 0 web, 1 mobile, -1 not given
    "event_key",  # uint64 hashed into the event_id
    "received",  # ms since the epoch
    "occurred_form",  # how occurred_at is written: see TIMESTAMP_OFFSETS
    "received_form",
    "late",  # first delivery >= LATE_MS after it occurred
    "copy",  # a redelivery
)

Stash = defaultdict[int, list[Frame]]  # window -> events received in it, delivered earlier


def receive(
    plan: Plan, rng: np.random.Generator, events: Frame, window: int, dirt: bool
) -> list[Frame]:
    """Adds event ids, receipt times and timestamp forms; with dirt, late arrivals. Returns the
    events and, with dirt, their redelivered copies."""
    n = frame_length(events)
    counter = (np.uint64(window) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    events["event_key"] = counter ^ plan.event_salt
    occurred = events["occurred"]
    received = occurred + lognormal_ms(rng, 400, 1.2, n, 1, 30_000)
    late = np.zeros(n, dtype=bool)
    if dirt:
        late = rng.random(n) < LATE_RATE
        to_midnight = DAY_MS - occurred % DAY_MS
        late_delay = np.maximum(LATE_MS, to_midnight + rng.integers(0, 2 * DAY_MS, n))
        received = np.where(late, occurred + late_delay, received)
    events["received"] = received
    events["late"] = late
    events["occurred_form"] = rng.choice(EPOCH_FORM + 1, n, p=TIMESTAMP_FORM_P).astype(np.int8)
    events["received_form"] = rng.choice(EPOCH_FORM + 1, n, p=TIMESTAMP_FORM_P).astype(np.int8)
    events["channel"][rng.random(n) < NO_CHANNEL_RATE] = -1
    events["copy"] = np.zeros(n, dtype=bool)
    if not dirt:
        return [events]
    return [events, redeliveries(rng, events)]


def redeliveries(rng: np.random.Generator, events: Frame) -> Frame:
    """Copies of some events, received again at the same instant, seconds or hours later."""
    copies = take_rows(events, np.flatnonzero(rng.random(frame_length(events)) < DUPLICATE_RATE))
    k = frame_length(copies)
    when = rng.choice(3, k, p=(0.35, 0.40, 0.25))
    copies["received"] = copies["received"] + np.select(
        [when == 0, when == 1],
        [np.zeros(k, dtype=np.int64), rng.integers(1, 60_000, k)],
        rng.integers(HOUR_MS, 30 * HOUR_MS, k),
    )
    copies["copy"][:] = True
    copies["late"][:] = False
    return copies


@dataclass(frozen=True)
class DeliveredEvents:
    """Events received in one window, in delivery order, and where the junk lines go."""

    events: Frame  # sorted by receipt
    junk: Junk  # sorted by receipt
    junk_after: np.ndarray  # the `i`-th junk line comes after `junk_after[i]` events


@dataclass(frozen=True)
class WindowLines:
    """The lines received in one delivery window: `parts` of events (each frame with the rows
    of it received in this window, or None for all of them), malformed and blank lines."""

    parts: list[tuple[Frame, np.ndarray | None]]
    junk: Junk
    junk_received: np.ndarray

    def rows(self, name: str) -> np.ndarray:
        """One column of the window's events, part after part."""
        return np.concatenate(
            [part[name] if rows is None else part[name][rows] for part, rows in self.parts]
        )

    @property
    def lines(self) -> int:
        events = sum(frame_length(p) if rows is None else len(rows) for p, rows in self.parts)
        return events + len(self.junk.lines)

    def in_delivery_order(self) -> DeliveredEvents:
        """By receipt time; events before junk received at the same instant, and otherwise in
        the order of the parts."""
        begin = 0
        selected = []
        for part, rows in self.parts:
            size = frame_length(part)
            selected.append(begin + (np.arange(size) if rows is None else rows))
            begin += size
        chosen = np.concatenate(selected)
        received = np.concatenate([part["received"] for part, _ in self.parts])
        order = chosen[np.argsort(received[chosen], kind="stable")]
        events = {
            name: np.concatenate([part[name] for part, _ in self.parts])[order]
            for name in LINE_COLUMNS
        }
        junk_order = np.argsort(self.junk_received, kind="stable")
        junk_after = np.searchsorted(
            events["received"], self.junk_received[junk_order], side="right"
        )
        return DeliveredEvents(events, self.junk.reordered(junk_order), junk_after)


def window_lines(
    plan: Plan,
    parts: list[Frame],
    window: int,
    junk: Junk,
    junk_received: np.ndarray,
    stash: Stash,
) -> WindowLines:
    """The lines received in `window`: earlier windows' stashed events, this window's own and
    its junk. Events received in a later window go to `stash`."""
    due_now: list[tuple[Frame, np.ndarray | None]] = [
        (part, None) for part in stash.pop(window, [])
    ]
    for part in parts:
        due = plan.window_of(part["received"])
        for later in np.unique(due[(due > window) & (due < plan.windows)]):
            stash[int(later)].append(take_rows(part, np.flatnonzero(due == later)))
        due_now.append((part, np.flatnonzero(due == window)))
    return WindowLines(due_now, junk, junk_received)
