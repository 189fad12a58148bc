"""Shared fixtures: real generated landing files and a warehouse built by the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cli_process
import dagster as dg
import dbt_forkserver
import duckdb
import pytest
from shared_artifacts import build_once

from orchestration import dbt_code
from orchestration.instance import instance_for
from orchestration.settings import DBT_EXECUTABLE_ENV, DBT_PROJECT_DIR, dbt_executable_from_env

# Landing files a test writes are read at once; the wait for files still being written
# (SBM_SETTLE_SECONDS, 10 s by default) is tested on its own in test_unreadable_files.py.
os.environ.setdefault("SBM_SETTLE_SECONDS", "0")
# dbt's log file (debug by default: every SQL statement, about 10 MB per demo build) costs a
# build 1.5 of its 12 CPU-s; no test reads it, and the events that tests check reach Dagster
# through dbt's standard output.
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "none")

REPO = Path(__file__).resolve().parent.parent


SBM = str(Path(sys.executable).parent / "servisbot-metrics")
DAGSTER = str(Path(sys.executable).parent / "dagster")
DEMO_DAYS, DEMO_EVENTS, DEMO_SEED = 7, 40_000, 11


def dbt(
    state: Path, config_vars: dict, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """A test's own dbt command (`args`) on the build database of the state folder `state`,
    with the configuration's dbt vars; dbt's target and log folders there. No manifest.json or
    run_results.json (`--no-write-json`): the tests read dbt's output and the tables, and dbt
    still keeps its partial-parse file; about 0.7 CPU-s less per command."""
    return subprocess.run(
        [
            dbt_executable_from_env(),
            *args,
            "--vars",
            json.dumps({"state_dir": str(state), **config_vars}),
            "--target-path",
            str(state / "target"),
            "--log-path",
            str(state / "logs"),
            "--no-write-json",
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=timeout,
    )


@pytest.fixture(scope="session", autouse=True)
def dbt_started_warm() -> Iterator[None]:
    """This worker's dbt commands, the pipeline's (SBM_DBT_EXECUTABLE) and the tests' own
    (settings.dbt_executable_from_env), fork from a process that has imported dbt
    (dbt_forkserver.py): each is still a dbt process of its own."""
    server = dbt_forkserver.Server()
    os.environ[DBT_EXECUTABLE_ENV] = str(server.launcher)
    yield
    del os.environ[DBT_EXECUTABLE_ENV]
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    # The dbt manifest that the Dagster definitions load (dbt_project/target), parsed when
    # missing or stale, as `make setup` and the CLI do. Here, once, before xdist starts its
    # workers: two workers parsing at once would both write it, and one could read it half
    # written.
    dbt_code.prepare()


# The longest modules first. xdist (--dist loadgroup) hands tests to its workers in this order,
# after the groups: a long test started last would keep one worker busy while the other idles.
LONGEST_FIRST = (
    "test_spark.py",
    "test_incremental.py",
    "test_dagster_ui.py",
    "test_orchestration.py",
    "test_pipeline_run.py",
    "test_config_apply.py",
    "test_unreadable_files.py",
    "test_postgres_instance.py",
    "test_config_sensitivity.py",
    "test_definitions.py",
    "test_line_rules_fuzz.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: modules stay whole


# Modules whose tests share a module-scoped server or build: xdist runs each on one worker.
# (pytest-xdist 3.8's own `xdist_group` mark cannot do it under pytest 9.2: it renames the item
# through `item._nodeid`, which pytest 9.2 no longer reads, so every test is scheduled alone.)
ONE_WORKER_MODULES = frozenset(
    {"tests/test_superset.py", "tests/test_superset_readers.py", "tests/test_dbt.py"}
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """For --dist loadgroup: each test is a unit of work, except that the modules above are one
    unit each (xdist starts the largest units first, then the others in collection order)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return ModuleGroupScheduling(config, log)


def _cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "DO_NOT_TRACK": "1", **(extra or {})}


def sbm(
    *args: object,
    check: bool = True,
    env: dict[str, str] | None = None,
    console_script: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `servisbot-metrics ARGS` in its own process (`env`: more variables): forked from a
    process that has imported the CLI (cli_process.py), or with `console_script` the installed
    console script itself."""
    argv = list(map(str, args))
    environment = _cli_env(env)
    if console_script:
        result = subprocess.run(
            [SBM, *argv], capture_output=True, text=True, cwd=REPO, env=environment, timeout=900
        )
    else:
        result = cli_process.run(argv, environment, REPO, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(
            f"servisbot-metrics {args[0]} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def report_line(config: pytest.Config, message: str, prefix: str = "superset") -> None:
    """Print a timing line even while pytest captures output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"[{prefix}] {message}")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Columns that record when and by which run a table was built, not what the data says.
RUN_METADATA = {
    "marts.pipeline_status": ("built_at", "last_ingested_at", "last_published_at"),
    "marts.config_versions": ("applied_at", "run_id"),
}
# An incremental table's watermark in every table that has one: the ingest time of the run that
# built the row (two runs over the same files ingest them at different times).
WATERMARK = "last_ingested_at"


def table_rows(warehouse: Path, table: str) -> list[tuple]:
    """Rows in a stable order, without run metadata; floats rounded (parallel sums may differ
    in the last bit)."""
    columns = {c for (c,) in query(warehouse, f"SELECT column_name FROM (DESCRIBE {table})")}
    metadata = dict.fromkeys((*RUN_METADATA.get(table, ()), WATERMARK))
    exclude = ", ".join(c for c in metadata if c in columns)
    rows = query(warehouse, f"SELECT * {f'EXCLUDE ({exclude})' if exclude else ''} FROM {table}")
    rows = [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]
    return sorted(rows, key=repr)


def published_tables(warehouse: Path) -> list[str]:
    """Every published table except publish_info (which names the run that published it)."""
    rows = query(
        warehouse,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_name <> 'publish_info' ORDER BY 1",
    )
    return [table for (table,) in rows]


DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo-metrics.yaml"


# The session fixtures below are built once per pytest run, even with several xdist workers
# (shared_artifacts.build_once), and are read-only: a test that changes one works on a copy.


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def generate(folder: Path) -> None:
        sbm(
            "generate",
            "--out",
            folder / "landing",
            "--days",
            DEMO_DAYS,
            "--events",
            DEMO_EVENTS,
            "--seed",
            DEMO_SEED,
        )

    return build_once(tmp_path_factory, "demo", generate) / "landing"


@pytest.fixture(scope="session")
def published_warehouse(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published by `servisbot-metrics run` over the demo landing folder."""

    def publish(folder: Path) -> None:
        sbm("run", "--landing", demo_landing, "--warehouse", folder / "warehouse.duckdb")

    return build_once(tmp_path_factory, "published", publish) / "warehouse.duckdb"


@pytest.fixture(scope="session")
def dashboard_warehouse(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published with the demo configuration (KPI dashboards, Europe/Dublin)."""

    def publish(folder: Path) -> None:
        warehouse = folder / "warehouse.duckdb"
        sbm("run", "--landing", demo_landing, "--warehouse", warehouse, "--config", DEMO_CONFIG)

    return build_once(tmp_path_factory, "dashboards", publish) / "warehouse.duckdb"


@dataclass(frozen=True)
class Site:
    """A landing folder and the warehouse published from it, with its state beside it."""

    landing: Path
    warehouse: Path

    @property
    def state(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.stem}.state")

    def run(self, *extra: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sbm(
            "run", "--landing", self.landing, "--warehouse", self.warehouse, *extra, check=check
        )

    def start(self, new_session: bool = False) -> cli_process.CliProcess:
        """`servisbot-metrics run` on this site, started and not waited for (in its own process
        group with `new_session`, as subprocess.Popen's start_new_session)."""
        argv = ["run", "--landing", str(self.landing), "--warehouse", str(self.warehouse)]
        return cli_process.CliProcess(argv, _cli_env(), REPO, new_session=new_session)

    def instance(self) -> dg.DagsterInstance:
        return instance_for(self.state / "dagster")

    def dagster_env(self) -> dict[str, str]:
        """What a Dagster process launched for this site reads (PipelineResource.from_env)."""
        return {
            "DAGSTER_HOME": str(self.state / "dagster"),
            "SBM_LANDING_DIR": str(self.landing),
            "SBM_WAREHOUSE": str(self.warehouse),
            "SBM_STATE_DIR": str(self.state),
            "DO_NOT_TRACK": "1",
        }


def days_of(landing: Path) -> list[str]:
    return sorted(p.name for p in landing.iterdir())


@pytest.fixture(scope="session")
def base_site(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Published over every demo day but the last (files copied with their times)."""

    def publish(root: Path) -> None:
        site = Site(root / "landing", root / "wh.duckdb")
        site.landing.mkdir()
        for day in days_of(demo_landing)[:-1]:
            shutil.copytree(demo_landing / day, site.landing / day)
        site.run()

    root = build_once(tmp_path_factory, "base", publish)
    return Site(root / "landing", root / "wh.duckdb")


def clone_site(base: Site, root: Path, demo_landing: Path, with_last_day: bool = True) -> Site:
    site = Site(root / "landing", root / "wh.duckdb")
    shutil.copytree(base.landing, site.landing)
    shutil.copy2(base.warehouse, site.warehouse)
    shutil.copytree(base.state, site.state)
    if with_last_day:  # the next delivery arrives
        last = days_of(demo_landing)[-1]
        shutil.copytree(demo_landing / last, site.landing / last)
    return site


def copy_published(published: Path, warehouse: Path) -> Path:
    """A copy of a published warehouse with its state folder beside it (`<stem>.state`), as if
    its run had published to `warehouse`: a test that runs again on it changes only the copy."""
    shutil.copy2(published, warehouse)
    shutil.copytree(
        published.with_name(f"{published.stem}.state"),
        warehouse.with_name(f"{warehouse.stem}.state"),
    )
    return warehouse


def assert_same_numbers(warehouse: Path, reference: Path) -> None:
    tables = published_tables(reference)
    assert published_tables(warehouse) == tables
    for table in tables:
        assert table_rows(warehouse, table) == table_rows(reference, table), table
