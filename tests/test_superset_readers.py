"""Readers of the published warehouse: many at once while runs publish, and analysts who can
only read.

A warehouse is published from the first days of the demo landing folder with the demo
configuration; Superset is provisioned over it (once) and served. See ``readers_load.py`` for
the readers and how each answer is tied to the publish it came from.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import duckdb
import pytest
import yaml
from conftest import DEMO_CONFIG, Site, days_of, report_line
from readers_load import (
    Load,
    chart_reader,
    create_stamped_dataset,
    dashboard_charts,
    duckdb_reader,
    mismatches,
    read_publication,
    stamped,
    stats,
    table,
)
from superset_server import ASSETS, SUPERSET_DIR, Superset, running_superset


def _load_guard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("duckdb_guard", SUPERSET_DIR / "duckdb_guard.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_GUARD = _load_guard()
data_folder, lock_down = _GUARD.data_folder, _GUARD.lock_down

# A Superset server (one worker runs the module: conftest.ONE_WORKER_MODULES).
pytestmark = pytest.mark.server

FIRST_DAYS = 4  # published before the readers start; each later demo day is one more publish
PUBLISHES = 3
DUCKDB_READERS = 8
STAMPED_CHART_READERS = 4  # + 4 on the saved query contexts: 8 through the chart-data API
SAVED_CHART_READERS = 4
TAIL_S = 3.0  # readers keep reading this long after the last publish
# Think time of each reader between two queries. Without it the 16 readers take both cores
# (8 DuckDB readers alone ran 230 queries/s) and each run took 4 minutes instead of one.
PAUSE_S = 0.1


@pytest.fixture(scope="module")
def site(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("readers")
    site = Site(root / "landing", root / "wh.duckdb")
    site.landing.mkdir()
    for day in days_of(demo_landing)[:FIRST_DAYS]:
        shutil.copytree(demo_landing / day, site.landing / day)
    site.run("--config", DEMO_CONFIG)
    return site


@pytest.fixture(scope="module")
def superset(
    request: pytest.FixtureRequest, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Superset]:
    work = tmp_path_factory.mktemp("superset-readers")
    with running_superset(
        site.warehouse, work, report=lambda line: report_line(request.config, line, "readers")
    ) as admin:
        yield admin


def test_readers_see_one_publish_while_runs_publish(
    superset: Superset, site: Site, demo_landing: Path, request: pytest.FixtureRequest
) -> None:
    def say(line: str) -> None:
        report_line(request.config, line, "readers")

    charts = [c for c in dashboard_charts(superset) if c.metrics]
    assert len(charts) >= 5, f"usage charts to check: {[c.name for c in charts]}"
    dataset_id = create_stamped_dataset(superset)
    stamped_charts = [stamped(chart, dataset_id) for chart in charts]
    readers = [("duckdb", duckdb_reader(site.warehouse)) for _ in range(DUCKDB_READERS)]
    readers += [
        ("chart-data stamped", chart_reader(superset.login("admin"), stamped_charts))
        for _ in range(STAMPED_CHART_READERS)
    ]
    readers += [
        ("chart-data saved", chart_reader(superset.login("admin"), charts))
        for _ in range(SAVED_CHART_READERS)
    ]

    publications = [read_publication(site.warehouse)]  # the one before the readers start
    new_days = days_of(demo_landing)[FIRST_DAYS : FIRST_DAYS + PUBLISHES]
    assert len(new_days) == PUBLISHES
    load = Load()
    with load.reading(readers, PAUSE_S):
        for day in new_days:  # each run adds a delivery day: the numbers change every publish
            shutil.copytree(demo_landing / day, site.landing / day)
            started = time.monotonic()
            site.run("--config", DEMO_CONFIG)
            publications.append(read_publication(site.warehouse))
            say(f"published {day} under load: {time.monotonic() - started:.1f}s")
        time.sleep(TAIL_S)

    rows = stats(load.answers, publications)
    say("16 readers during 3 publishes:\n" + table(rows))
    identities = [p.identity for p in publications]
    assert len(set(identities)) == len(identities), "each publish has its own stamp"
    sessions = [p.numbers["fct_sessions.rows"] for p in publications]
    assert sessions == sorted(set(sessions)), f"each publish changes the numbers: {sessions}"

    errors = [f"{a.kind}: {a.error}" for a in load.answers if a.error]
    assert not errors, f"{len(errors)} failed queries, e.g. {errors[:5]}"
    problems = mismatches(load.answers, publications)
    assert not problems, f"{len(problems)} answers mix publishes, e.g. {problems[:5]}"
    for row in rows:
        assert row.requests >= 10, f"{row.kind}: only {row.requests} answers"
    # Every kind of reader was reading while the file changed under it. (A process holds one
    # DuckDB instance per path while any connection to it is open, so readers that overlap
    # without pause may keep answering from the previous file for a while: `stale`.)
    chart_kinds = [r for r in rows if r.kind.startswith("chart-data")]
    assert all(r.publishes_seen >= 2 for r in chart_kinds), "Superset saw a new publish"
    # After the load, a new query sees the last publish.
    assert duckdb_reader(site.warehouse)(0).publish == identities[-1]


# Statement -> the error that refuses it, and what gives that error. Two layers:
# 1. Superset's SQL Lab checks the statement (parsed with sqlglot) before running it. Its table
#    check reads a table function (read_text(...), glob(...)) or a path in FROM as a table of the
#    default schema `main`, and the Analyst role has schema_access on `marts` only
#    (provision.py sync_roles): TABLE_SECURITY_ACCESS_ERROR. Its DML check (the database's
#    allow_dml: false) does not see COPY, ATTACH, INSTALL, LOAD or SET as writes: they reach
#    the database.
# 2. DuckDB opens the warehouse with read_only: true (superset/assets/databases/
#    servisbot_warehouse.yaml, connect_args; Superset connects per query), then every connection
#    is locked down (superset/duckdb_guard.py, from superset_config.py): allowed_directories is
#    the warehouse's Parquet folder and enable_external_access is off. read_only alone would
#    still let COPY write files elsewhere and ATTACH others; enable_external_access: false
#    refuses every file other than the warehouse and its Parquet folder, extension installs and
#    loads, and cannot be turned back on from SQL. COPY into the Parquet folder itself would
#    pass DuckDB: Superset refuses COPY and EXPORT first (SQL_QUERY_MUTATOR, layer 1 only).
FILES_OFF = "file system operations are disabled by configuration"  # enable_external_access
WRITES_FILES = "statements that write files (COPY, EXPORT) are not allowed"  # duckdb_guard.py
REFUSED = {
    # table function reading a file: Superset's table check (layer 1); DuckDB too (layer 2)
    "SELECT * FROM read_text('/etc/passwd')": "TABLE_SECURITY_ACCESS_ERROR",
    "SELECT * FROM read_csv('/etc/passwd')": "TABLE_SECURITY_ACCESS_ERROR",
    "SELECT * FROM '/etc/passwd'": "TABLE_SECURITY_ACCESS_ERROR",  # a path as a table
    # listing the file system: Superset's table check; DuckDB too
    "SELECT * FROM glob('/*')": "TABLE_SECURITY_ACCESS_ERROR",
    # writing a file: Superset (COPY and EXPORT), DuckDB too (enable_external_access=false)
    "COPY (SELECT 1) TO '{tmp}/x.csv'": WRITES_FILES,
    # writing into the published Parquet folder (which DuckDB may read): Superset only
    "COPY (SELECT 1) TO '{data}/x.parquet'": WRITES_FILES,
    # ... and EXPORT DATABASE: Superset's parser refuses it first (SQL_QUERY_MUTATOR would too)
    "EXPORT DATABASE '{data}/export'": "Error parsing",
    # opening (creating) another database file: DuckDB only, enable_external_access=false
    "ATTACH '{tmp}/y.duckdb'": FILES_OFF,
    # installing an extension (writes to ~/.duckdb/extensions): DuckDB only, the same
    "INSTALL httpfs": FILES_OFF,
    "LOAD httpfs": "Loading external extensions is disabled",
    # turning the guard off: DuckDB only, refused once the database is running
    "SET enable_external_access = true": "Cannot enable external access while database is running",
    # the audit schema: Superset only (no schema_access on `audit`); DuckDB would serve it
    "SELECT * FROM audit.rejected_events": "TABLE_SECURITY_ACCESS_ERROR",
}


def _extensions() -> list[str]:
    return sorted(str(p) for p in (Path.home() / ".duckdb" / "extensions").rglob("*httpfs*"))


def test_analyst_sql_lab_is_read_only(superset: Superset, tmp_path: Path) -> None:
    analyst = superset.login("analyst")
    control = analyst.sql("SELECT count(*) AS n FROM marts.usage_daily")
    assert control.status_code == 200, control.text
    assert control.json()["data"][0]["n"] > 0, "the analyst reads the marts"

    # the fact tables are views over the published Parquet files: readable through Superset
    facts = analyst.sql("SELECT count(*) AS n FROM marts.fct_sessions")
    assert facts.status_code == 200, facts.text
    assert facts.json()["data"][0]["n"] > 0, "the analyst reads the Parquet-backed facts"

    data = data_folder(str(superset.warehouse)).rstrip("/")  # the served file was published here
    before = sorted(Path(data).rglob("*"))
    extensions = _extensions()
    for template, refusal in REFUSED.items():
        statement = template.format(tmp=tmp_path, data=data)
        response = analyst.sql(statement)
        assert response.status_code >= 400, f"{statement!r} ran: {response.text[:500]}"
        assert not response.json().get("data"), f"{statement!r} returned rows"
        assert refusal in response.text, f"{statement!r}: {response.text[:1000]}"
    assert not (tmp_path / "x.csv").exists(), "COPY wrote a file"
    assert sorted(Path(data).rglob("*")) == before, "a file was written in the Parquet folder"
    assert not (tmp_path / "y.duckdb").exists(), "ATTACH created a file"
    assert _extensions() == extensions, "INSTALL added an extension"

    # Layer 2 on its own: DuckDB with the database's connect args, locked down as Superset's
    # connections are, refuses every statement that Superset stopped first too, except the
    # audit query and writes into the Parquet folder (which only Superset refuses). It still
    # reads the Parquet-backed facts.
    database = yaml.safe_load((ASSETS / "databases" / "servisbot_warehouse.yaml").read_text())
    connect_args = database["extra"]["engine_params"]["connect_args"]
    # the served file itself (read-only): its views name its own Parquet folder
    con = duckdb.connect(str(superset.warehouse), **connect_args)
    lock_down(con)
    try:
        assert con.execute("SELECT count(*) FROM marts.fct_sessions").fetchone()[0] > 0
        for template in REFUSED:
            statement = template.format(tmp=tmp_path, data=data)
            if "audit." in statement or "{data}" in template:
                assert con.execute(statement).fetchall() is not None
                continue
            with pytest.raises(duckdb.Error):
                con.execute(statement).fetchall()
    finally:
        con.close()
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "y.duckdb").exists()
