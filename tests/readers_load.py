"""Readers of the published warehouse under load, each answer tied to the publish it came from.

Two kinds of reader, as in production:
- ``duckdb``: a DuckDB connection opened read-only per query on the warehouse path (what
  Superset's DuckDB engine does), one statement reading mart numbers and ``marts.publish_info``;
- ``chart-data``: Superset's ``POST /api/v1/chart/data`` with a dashboard chart's saved query
  context and ``force: true`` (no cache). A *stamped* variant runs the same query context on
  a virtual dataset, ``usage_daily`` cross-joined with the publish stamp, so one SQL statement
  (one connection, one file) returns the chart's numbers together with the publish they are from.

Shared by ``tests/test_superset_readers.py`` and ``benchmarks/readers_under_load.py``.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from superset_server import Superset

PublishId = tuple[str, str]  # (published_at, dagster_run_id) from marts.publish_info
METRIC_PREFIX = "total_"  # usage_daily metric total_<column> is SUM(<column>)
STAMP_COLUMNS = ("published_at", "dagster_run_id")
STAMPED_DATASET = "usage_daily_published"
# One statement: every value comes from the same snapshot of the same file.
STAMPED_SQL = """SELECT u.*, p.published_at, p.dagster_run_id
FROM marts.usage_daily AS u
CROSS JOIN (
    SELECT max(value) FILTER (WHERE key = 'published_at') AS published_at,
           max(value) FILTER (WHERE key = 'dagster_run_id') AS dagster_run_id
    FROM marts.publish_info
) AS p"""
DUCKDB_SQL = """SELECT
    (SELECT max(value) FILTER (WHERE key = 'published_at') FROM marts.publish_info),
    (SELECT max(value) FILTER (WHERE key = 'dagster_run_id') FROM marts.publish_info),
    (SELECT count(*) FROM marts.fct_sessions),
    (SELECT sum(impressions) FROM marts.usage_daily)"""
DUCKDB_NUMBERS = ("fct_sessions.rows", "usage_daily.impressions")


@dataclass(frozen=True)
class Publication:
    """What one publish put in the warehouse, read once right after it."""

    identity: PublishId
    numbers: dict[str, int]  # "usage_daily.<column>": sum, "fct_sessions.rows": count
    recorded_at: float  # time.monotonic(); the file was in place before this


def read_publication(warehouse: Path) -> Publication:
    """The publish stamp and numbers of the file now at `warehouse`.

    Attached to an in-memory database rather than opened with ``duckdb.connect(path)``: DuckDB
    shares one database instance per path within a process, so while a reader thread holds a
    connection, a new ``connect`` would get the file that was there when that instance opened.
    """
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        stamp = dict(con.execute("SELECT key, value FROM w.marts.publish_info").fetchall())
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'w' "
                "AND schema_name = 'marts' AND table_name = 'usage_daily' "
                "AND data_type IN ('BIGINT', 'INTEGER', 'HUGEINT') ORDER BY column_index"
            ).fetchall()
        ]
        sums = con.execute(
            "SELECT " + ", ".join(f'coalesce(sum("{c}"), 0)' for c in columns)
            + " FROM w.marts.usage_daily"
        ).fetchone()  # fmt: skip
        sessions = con.execute("SELECT count(*) FROM w.marts.fct_sessions").fetchone()
    finally:
        con.close()
    assert sums is not None and sessions is not None
    numbers = {f"usage_daily.{c}": int(v) for c, v in zip(columns, sums, strict=True)}
    numbers["fct_sessions.rows"] = int(sessions[0])
    identity = (stamp["published_at"], stamp["dagster_run_id"])
    return Publication(identity, numbers, time.monotonic())


@dataclass(frozen=True)
class Reading:
    label: str  # which chart / query
    publish: PublishId | None  # the stamp read with the numbers, when the query reads it
    numbers: dict[str, int]


@dataclass(frozen=True)
class Answer:
    kind: str
    started: float  # time.monotonic()
    seconds: float
    reading: Reading | None
    error: str | None


class ReaderError(RuntimeError):
    pass


def duckdb_reader(warehouse: Path) -> Callable[[int], Reading]:
    """A reader that opens the file read-only for every query, as Superset does."""

    def read(_: int) -> Reading:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            row = con.execute(DUCKDB_SQL).fetchone()
        finally:
            con.close()
        assert row is not None
        published_at, run_id, *values = row
        numbers = {name: int(v) for name, v in zip(DUCKDB_NUMBERS, values, strict=True)}
        return Reading("duckdb", (published_at, run_id), numbers)

    return read


@dataclass(frozen=True)
class ChartQuery:
    name: str
    body: dict[str, Any]  # the query context POSTed to /api/v1/chart/data
    metrics: tuple[str, ...] = ()  # total_<column> result columns to check (usage_daily)
    stamped: bool = False


def dashboard_charts(admin: Superset) -> list[ChartQuery]:
    """Every chart's saved query context with ``force: true``. For charts on ``usage_daily``
    whose metrics are all ``total_<column>`` sums and that have no post-processing, the metrics
    to compare with the warehouse."""
    usage = {d["id"] for d in admin.list("dataset") if d["table_name"] == "usage_daily"}
    charts = []
    for chart in sorted(admin.list("chart"), key=lambda c: c["id"]):
        detail = admin.get(f"/api/v1/chart/{chart['id']}")["result"]
        body = json.loads(detail["query_context"])
        body["force"] = True
        query = body["queries"][0]
        metrics: tuple[str, ...] = ()
        if (
            body["datasource"]["id"] in usage
            and not query.get("post_processing")
            and query.get("metrics")
            and all(isinstance(m, str) and m.startswith(METRIC_PREFIX) for m in query["metrics"])
        ):
            metrics = tuple(query["metrics"])
        charts.append(ChartQuery(detail["slice_name"], body, metrics))
    return charts


def create_stamped_dataset(admin: Superset) -> int:
    """A virtual dataset: usage_daily with the publish stamp on every row, and the same metrics
    as the usage_daily dataset. Returns its id."""
    database_id = admin.list("database")[0]["id"]
    created = admin.post(
        "/api/v1/dataset/",
        {"database": database_id, "schema": "marts", "table_name": STAMPED_DATASET,
         "sql": STAMPED_SQL},
    )  # fmt: skip
    assert created.status_code == 201, f"create {STAMPED_DATASET}: {created.text}"
    dataset_id = int(created.json()["id"])
    usage = next(d for d in admin.list("dataset") if d["table_name"] == "usage_daily")
    metrics = admin.get(f"/api/v1/dataset/{usage['id']}")["result"]["metrics"]
    updated = admin.put(
        f"/api/v1/dataset/{dataset_id}",
        {"metrics": [{"metric_name": m["metric_name"], "expression": m["expression"]}
                     for m in metrics]},
    )  # fmt: skip
    assert updated.status_code == 200, f"metrics of {STAMPED_DATASET}: {updated.text}"
    return dataset_id


def stamped(chart: ChartQuery, dataset_id: int) -> ChartQuery:
    """The chart's query context on the stamped dataset, grouped by the stamp as well: the
    answer has one row per publish it read (one, unless a query could mix two files)."""
    body = copy.deepcopy(chart.body)
    body["datasource"]["id"] = dataset_id
    body["form_data"]["datasource"] = f"{dataset_id}__table"
    query = body["queries"][0]
    query["columns"] = [*query["columns"], *STAMP_COLUMNS]
    query["row_limit"] = max(int(query.get("row_limit") or 0), 10)
    return ChartQuery(f"{chart.name} (stamped)", body, chart.metrics, stamped=True)


def chart_reader(client: Superset, charts: list[ChartQuery]) -> Callable[[int], Reading]:
    """A reader that posts the charts' query contexts in turn (starting at its own offset)."""

    # A new HTTP connection per request: under CPU starvation, gunicorn's gthread worker can
    # close a kept-alive connection (after its 2 s keep-alive) while the next request is
    # already on it, and the client sees a reset before the server read the query.
    client.session.headers["Connection"] = "close"

    def read(i: int) -> Reading:
        chart = charts[i % len(charts)]
        response = client.post("/api/v1/chart/data", chart.body)
        if response.status_code != 200:
            raise ReaderError(f"{chart.name}: HTTP {response.status_code} {response.text[:300]}")
        result = response.json()["result"][0]
        if result.get("error") or result.get("status") != "success":
            raise ReaderError(f"{chart.name}: {result.get('error') or result.get('status')}")
        rows = result["data"]
        numbers = {
            "usage_daily." + m.removeprefix(METRIC_PREFIX): int(sum(row[m] or 0 for row in rows))
            for m in chart.metrics
        }
        publish = None
        if chart.stamped:
            stamps = {(row["published_at"], row["dagster_run_id"]) for row in rows}
            if len(stamps) != 1:
                raise ReaderError(f"{chart.name}: {len(stamps)} publish stamps: {stamps}")
            publish = stamps.pop()
        return Reading(chart.name, publish, numbers)

    return read


@dataclass
class Load:
    """Reader threads, each querying in a loop until the block ends; every answer is kept."""

    answers: list[Answer] = field(default_factory=list)

    @contextmanager
    def reading(
        self, readers: list[tuple[str, Callable[[int], Reading]]], pause: float = 0.0
    ) -> Iterator[Load]:
        """Each reader queries, waits `pause` seconds (think time), and queries again."""
        stop = threading.Event()

        def loop(kind: str, offset: int, read: Callable[[int], Reading]) -> None:
            i = offset
            while not stop.is_set():
                started = time.monotonic()
                reading, error = None, None
                try:
                    reading = read(i)
                except Exception as exc:  # counted, reported, asserted on by the caller
                    error = f"{type(exc).__name__}: {exc}"[:500]
                seconds = time.monotonic() - started
                self.answers.append(Answer(kind, started, seconds, reading, error))
                i += 1
                stop.wait(pause)

        threads = [
            threading.Thread(target=loop, args=(kind, n, read), daemon=True, name=f"{kind}-{n}")
            for n, (kind, read) in enumerate(readers)
        ]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=180)


def mismatches(answers: list[Answer], publications: list[Publication]) -> list[str]:
    """Answers whose numbers are not what their publish published. An answer with a stamp is
    compared with that publish; one without (a saved chart query) must equal some publish."""
    by_id = {p.identity: p for p in publications}
    problems = []
    for answer in answers:
        reading = answer.reading
        if reading is None or not reading.numbers:
            continue
        if reading.publish is not None:
            publication = by_id.get(reading.publish)
            if publication is None:
                problems.append(f"{reading.label}: stamp {reading.publish} was never published")
                continue
            wrong = {
                k: (v, publication.numbers[k])
                for k, v in reading.numbers.items()
                if publication.numbers[k] != v
            }
            if wrong:
                problems.append(f"{reading.label} of {reading.publish}: (read, published) {wrong}")
        elif not any(
            all(p.numbers[k] == v for k, v in reading.numbers.items()) for p in publications
        ):
            problems.append(f"{reading.label}: {reading.numbers} is no publish's numbers")
    return problems


def publish_of(reading: Reading, publications: list[Publication]) -> int | None:
    """Index of the publish an answer came from: by its stamp, else by its numbers when they
    match exactly one publish."""
    if reading.publish is not None:
        found = [i for i, p in enumerate(publications) if p.identity == reading.publish]
    else:
        found = [
            i
            for i, p in enumerate(publications)
            if reading.numbers and all(p.numbers[k] == v for k, v in reading.numbers.items())
        ]
    return found[0] if len(found) == 1 else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class KindStats:
    kind: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    identified: int  # answers whose publish is known (by stamp, or numbers unique to one)
    publishes_seen: int  # distinct publishes those answers came from
    stale: int  # answers from an older publish than one already recorded when they started


def stats(answers: list[Answer], publications: list[Publication]) -> list[KindStats]:
    rows = []
    for kind in dict.fromkeys(a.kind for a in answers):
        mine = [a for a in answers if a.kind == kind]
        ok = [a for a in mine if a.error is None]
        seen: list[int] = []
        stale = 0
        for answer in ok:
            assert answer.reading is not None
            index = publish_of(answer.reading, publications)
            if index is None:
                continue
            seen.append(index)
            newest = max(
                (i for i, p in enumerate(publications) if p.recorded_at <= answer.started),
                default=None,
            )
            stale += newest is not None and index < newest
        millis = [a.seconds * 1000 for a in ok]
        p50, p95 = percentile(millis, 50), percentile(millis, 95)
        worst = max(millis, default=math.nan)
        rows.append(
            KindStats(
                kind,
                len(mine),
                len(mine) - len(ok),
                p50,
                p95,
                worst,
                len(seen),
                len(set(seen)),
                stale,
            )
        )
    return rows


def table(rows: list[KindStats]) -> str:
    """Per reader kind; publishes and stale are "-" when no answer could be tied to a publish
    (saved chart queries when every publish has the same numbers)."""
    header = (
        f"{'reader':<20} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'max ms':>8} {'publishes':>9} {'stale':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        seen, stale = (r.publishes_seen, r.stale) if r.identified else ("-", "-")
        lines.append(
            f"{r.kind:<20} {r.requests:>8} {r.errors:>6} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
            f"{r.max_ms:>8.1f} {seen:>9} {stale:>6}"
        )
    return "\n".join(lines)


def slowest(answers: list[Answer], count: int = 5) -> str:
    """The `count` queries (chart or reader label) with the highest p95."""
    by_label: dict[str, list[float]] = {}
    for answer in answers:
        if answer.reading is not None:
            by_label.setdefault(answer.reading.label, []).append(answer.seconds * 1000)
    ranked = sorted(by_label.items(), key=lambda item: percentile(item[1], 95), reverse=True)
    lines = [f"{'query':<44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8}"]
    for label, millis in ranked[:count]:
        lines.append(
            f"{label[:44]:<44} {len(millis):>5} {percentile(millis, 50):>8.1f} "
            f"{percentile(millis, 95):>8.1f}"
        )
    return "\n".join(lines)
