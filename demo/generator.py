"""`generate()`: the demo generator's entry point, and `GenerateResult`, what it reports.

It writes `OUT/YYYY-MM-DD/events-YYYYMMDD-HH00.ndjson[.gz]`: every day is cut into
`WINDOWS_PER_DAY` delivery windows, each one file holding the lines received in it. The main
thread draws window after window (`traffic`, `delivery`, `dirt`); worker threads turn each into
a file (`ndjson`). The same arguments always produce byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo.arrays import frame_length
from demo.catalogue import Catalogue
from demo.delivery import Stash, WindowLines, receive, window_lines
from demo.dirt import REJECTION_REASONS, junk_lines, malformed_total
from demo.ndjson import LineWriter, write_window
from demo.rhythm import HOURS_PER_WINDOW, WINDOWS_PER_DAY, Plan, plan_run
from demo.traffic import window_events
from ingest.vocabulary import EVENT_TYPES

WRITERS = 2  # worker threads writing files


@dataclass(frozen=True)
class GenerateResult:
    """What `generate()` wrote."""

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


class Tally:
    """What has been delivered so far."""

    def __init__(self) -> None:
        self.events = 0  # first deliveries
        self.copies = 0
        self.blanks = 0
        self.types = np.zeros(len(EVENT_TYPES), dtype=np.int64)
        self.reasons = np.zeros(len(REJECTION_REASONS), dtype=np.int64)
        self.late = 0
        self.lines = 0

    def add(self, window: WindowLines) -> None:
        first = ~window.rows("copy")
        self.events += int(first.sum())
        self.copies += int((~first).sum())
        self.types += np.bincount(window.rows("type")[first], minlength=len(EVENT_TYPES))
        malformed = window.junk.reasons[window.junk.reasons >= 0]
        self.reasons += np.bincount(malformed, minlength=len(REJECTION_REASONS))
        self.blanks += int((window.junk.reasons < 0).sum())
        self.late += int(window.rows("late")[first].sum())
        self.lines += window.lines


def _first_day(
    days: int, events: int, seed: int, organizations: int, bots: int, start_date: dt.date | None
) -> dt.date:
    """The run's first day (by default `days` days before today, UTC), arguments checked."""
    if days < 1 or events < 0 or seed < 0:
        raise ValueError("days must be >= 1, events and seed >= 0")
    if not 1 <= organizations <= bots:
        raise ValueError("need 1 <= organizations <= bots")
    try:
        start = start_date or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    except OverflowError:  # before year 1
        start = dt.date.min
    # Epoch milliseconds then have 13 digits and years 4, as the line layout expects.
    if not dt.date(2002, 1, 1) <= start <= dt.date(2200, 1, 1):
        raise ValueError(
            f"the first day must be between 2002-01-01 and 2200-01-01, not {start}"
            + ("" if start_date else f" ({days} days before today)")
        )
    return start


def _file_path(out_dir: Path, start: dt.date, window: int, suffix: str) -> Path:
    day = start + dt.timedelta(days=window // WINDOWS_PER_DAY)
    hour = window % WINDOWS_PER_DAY * HOURS_PER_WINDOW
    return Path(out_dir) / day.isoformat() / f"events-{day:%Y%m%d}-{hour:02d}00{suffix}"


def _draw_window(
    plan: Plan, catalogue: Catalogue, seed: int, window: int, target: int, dirt: bool, stash: Stash
) -> tuple[WindowLines, int]:
    """The lines of `window`, from its own random generator, and how many events it drew."""
    rng = np.random.default_rng([seed, window])
    events = window_events(plan, catalogue, rng, window, target)
    drawn = frame_length(events)
    delivered = receive(plan, rng, events, window, dirt)
    junk, junk_received = junk_lines(plan, catalogue, rng, window, dirt)
    return window_lines(plan, delivered, window, junk, junk_received, stash), drawn


class _Files:
    """Landing files written by worker threads (numpy, arrow and file writes release the GIL)
    while the caller draws the next windows; at most `WRITERS` windows wait for a worker."""

    def __init__(self, catalogue: Catalogue, pool: ThreadPoolExecutor, compress: bool) -> None:
        self.writer = LineWriter(catalogue)
        self.pool = pool
        self.compress = compress
        self.pending: list[Future[int]] = []
        self.count = 0
        self.bytes = 0

    def write(self, lines: WindowLines, path: Path, delivered_ms: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        while len(self.pending) > WRITERS:
            self.bytes += self.pending.pop(0).result()
        self.pending.append(
            self.pool.submit(write_window, self.writer, lines, path, self.compress, delivered_ms)
        )
        self.count += 1

    def finish(self) -> None:
        self.bytes += sum(f.result() for f in self.pending)
        self.pending = []


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
    before today (UTC), so the data ends at today's midnight. With `dirt`: redelivered
    duplicates, late arrivals, malformed lines covering every rejection reason, blank lines.
    """
    start = _first_day(days, events, seed, organizations, bots, start_date)
    began = time.perf_counter()
    dirt = dirt and events > 0
    catalogue = Catalogue(organizations, bots)
    plan = plan_run(catalogue, start, days, events, seed, malformed_total(events) if dirt else 0)
    suffix = ".ndjson.gz" if gzip else ".ndjson"
    stash: Stash = defaultdict(list)
    tally = Tally()
    generated = 0
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        files = _Files(catalogue, pool, gzip)
        for window in range(plan.windows):
            target = int(plan.goal[window]) - generated
            lines, drawn = _draw_window(plan, catalogue, seed, window, target, dirt, stash)
            generated += drawn
            tally.add(lines)
            if lines.lines:
                path = _file_path(out_dir, start, window, suffix)
                files.write(lines, path, plan.window_start_ms(window + 1))
            if progress and (window + 1) % WINDOWS_PER_DAY == 0:
                progress(
                    f"{start + dt.timedelta(days=window // WINDOWS_PER_DAY)}: {files.count} "
                    f"files, {tally.lines:,} lines, {tally.events:,} events "
                    f"({time.perf_counter() - began:.1f} s)"
                )
        files.finish()
    return GenerateResult(
        out_dir=Path(out_dir),
        start_date=start,
        days=days,
        files_written=files.count,
        bytes_written=files.bytes,
        lines_written=tally.lines,
        valid_events=tally.events,
        duplicate_lines=tally.copies,
        malformed_lines=int(tally.reasons.sum()),
        malformed_by_reason=dict(zip(REJECTION_REASONS, tally.reasons.tolist(), strict=True)),
        blank_lines=tally.blanks,
        late_events=tally.late,
        events_by_type=dict(zip(EVENT_TYPES, tally.types.tolist(), strict=True)),
        elapsed_seconds=time.perf_counter() - began,
    )
