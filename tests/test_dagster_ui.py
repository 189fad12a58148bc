"""Dagster as a data engineer runs it: `dagster dev` (webserver + daemon) on a warehouse's own
instance. The landing sensor launches a run by itself, a run launched meanwhile from the UI
waits in the queue, and a backfill launched through the UI's GraphQL API over two delivery days
(one of them re-delivered) runs once for the range and changes no number. A run whose process
is killed (its worker alone, or all of `dagster dev`) is marked failed without anyone's help,
and the run queued behind it starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from conftest import DAGSTER, REPO, Site, assert_same_numbers, clone_site, days_of, query

pytestmark = pytest.mark.server  # `dagster dev`: webserver, daemon and code server

WRITER_JOBS = ("refresh_job", "build_job")


@dataclass
class DagsterDev:
    site: Site
    url: str
    location: str
    log: Path
    pid: int  # `dagster dev`, the leader of its process group

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def instance(self) -> dg.DagsterInstance:
        return self.site.instance()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(condition, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.5)


def _location(url: str) -> str | None:
    try:
        response = requests.post(
            f"{url}/graphql",
            json={
                "query": "{ workspaceOrError { ... on Workspace { locationEntries { name "
                "locationOrLoadError { __typename } } } } }"
            },
            timeout=10,
        )
        entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None  # not up yet, too busy to answer in time, or still loading the workspace
    loaded = [
        e["name"]
        for e in entries
        if e["locationOrLoadError"]
        and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    ]
    return loaded[0] if loaded else None


@pytest.fixture
def dagster_dev(base_site: Site, demo_landing: Path, tmp_path: Path) -> Iterator[DagsterDev]:
    site = clone_site(base_site, tmp_path, demo_landing)  # the last day has just landed
    yield from _serve(site, tmp_path)


@pytest.fixture
def dagster_dev_settled(
    base_site: Site, demo_landing: Path, tmp_path: Path
) -> Iterator[DagsterDev]:
    """Nothing new has landed: no sensor has anything to do until the configuration changes."""
    yield from _serve(clone_site(base_site, tmp_path, demo_landing, with_last_day=False), tmp_path)


def _serve(site: Site, tmp_path: Path) -> Iterator[DagsterDev]:
    with _running(site, tmp_path / "dagster-dev.log") as dev:
        yield dev


@contextmanager
def _running(site: Site, log: Path) -> Iterator[DagsterDev]:
    site.instance()  # dagster.yaml: the run queue's limit
    port = _free_port()
    env = {**os.environ, **site.dagster_env()}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        location = _wait_for(lambda: _location(url), 180, "dagster dev to load the code", log)
        yield DagsterDev(site, url, location, log, proc.pid)
    finally:
        # SIGINT, 5 s, then KILL (its webserver sometimes does not stop within 60 s after
        # SIGINT, where it usually stops in 2 s; cause not found; a test's instance is thrown
        # away after it)
        with suppress(ProcessLookupError):  # a test may have killed it
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def _writer_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.job_name in WRITER_JOBS]


def test_sensor_launches_a_run_the_next_one_queues_and_a_ui_backfill_changes_nothing(
    dagster_dev: DagsterDev, published_warehouse: Path
):
    dev, instance = dagster_dev, dagster_dev.instance()
    last = days_of(dev.site.landing)[-1]

    # 1. the landing sensor notices the new day and launches refresh_job for it by itself
    sensor_run = _wait_for(
        lambda: next(
            (r for r in _writer_runs(instance) if r.tags.get("dagster/sensor_name")), None
        ),
        180,
        "the landing sensor to launch a run",
        dev.log,
    )
    assert sensor_run.job_name == "refresh_job"
    assert sensor_run.tags["dagster/asset_partition_range_start"] == last

    # 2. a build launched from the UI meanwhile is queued behind it, not started, not failed
    selector = {
        "repositoryLocationName": dev.location,
        "repositoryName": "__repository__",
        "jobName": "build_job",
    }
    launched = dev.graphql(LAUNCH_RUN, params={"selector": selector, "runConfigData": {}})
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    build_id = launched["launchRun"]["run"]["runId"]

    seen_queued_behind, most_in_progress = False, 0
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    deadline = time.monotonic() + 900
    while True:
        runs = {r.run_id: r for r in _writer_runs(instance)}
        in_progress = [r for r in runs.values() if r.status == dg.DagsterRunStatus.STARTED]
        most_in_progress = max(most_in_progress, len(in_progress))
        if (
            runs[build_id].status == dg.DagsterRunStatus.QUEUED
            and runs[sensor_run.run_id].status not in done
        ):
            seen_queued_behind = True
        if {runs[sensor_run.run_id].status, runs[build_id].status} <= done:
            break
        assert time.monotonic() < deadline, dev.log.read_text()[-3000:]
        time.sleep(0.5)
    assert runs[sensor_run.run_id].status == dg.DagsterRunStatus.SUCCESS
    assert runs[build_id].status == dg.DagsterRunStatus.SUCCESS
    assert seen_queued_behind and most_in_progress == 1
    # the sensor's run executed its steps one after another in its run worker
    steps = instance.all_logs(sensor_run.run_id, of_type=dg.DagsterEventType.STEP_START)
    assert len(steps) >= 3  # ingest, dbt, publish
    assert {r.dagster_event.pid for r in steps} == {_worker_pid(instance, sensor_run.run_id)}
    assert_same_numbers(dev.site.warehouse, published_warehouse)

    # 3. the second-to-last day is re-delivered (same content, new file time), and a backfill
    # of the last two days is launched as the UI's "Launch backfill" sends it
    days = days_of(dev.site.landing)[-2:]
    manifest = dev.site.state / "raw" / "manifest" / f"{days[0]}.json"
    ingested_before = json.loads(manifest.read_text())["ingested_at"]
    time.sleep(1)  # ingest times have second resolution
    for path in (dev.site.landing / days[0]).iterdir():
        os.utime(path)  # recent: the sensor waits 60 s for it to settle, the backfill does not
    launched = dev.graphql(
        LAUNCH_BACKFILL,
        params={
            "selector": {
                "partitionSetName": "refresh_job_partition_set",
                "repositorySelector": {
                    "repositoryLocationName": dev.location,
                    "repositoryName": "__repository__",
                },
            },
            "partitionNames": days,
            "fromFailure": False,
        },
    )
    assert launched["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["launchPartitionBackfill"]["backfillId"]

    def backfill_finished() -> list[dg.DagsterRun] | None:
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        backfill = instance.get_backfill(backfill_id)
        if runs and all(r.status in done for r in runs) and backfill.status.value != "REQUESTED":
            return runs
        return None

    runs = _wait_for(backfill_finished, 900, "the backfill to finish", dev.log)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * len(runs)
    covered = {
        (
            r.tags.get("dagster/asset_partition_range_start"),
            r.tags.get("dagster/asset_partition_range_end"),
        )
        for r in runs
    }
    assert covered == {(days[0], days[1])}  # one run for the range (BackfillPolicy.single_run)
    assert json.loads(manifest.read_text())["ingested_at"] != ingested_before  # read again
    assert_same_numbers(dev.site.warehouse, published_warehouse)


def test_a_timeout_applied_from_the_launchpad_is_rebuilt_published_and_recorded(
    dagster_dev_settled: DagsterDev, base_site: Site
):
    """The issue's "done when": a business user changes the session timeout from the UI; the
    sensor's run rebuilds and publishes it, and the history records the change."""
    dev, instance = dagster_dev_settled, dagster_dev_settled.instance()
    selector = {
        "repositoryLocationName": dev.location,
        "repositoryName": "__repository__",
        "jobName": "apply_config_job",
    }
    edit = {"policies": {"userSession": {"expireOnInactivityInMinutes": 3}}}
    launched = dev.graphql(
        LAUNCH_RUN,
        params={
            "selector": selector,
            "runConfigData": {"ops": {"config__metrics_configuration": {"config": edit}}},
        },
    )
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    apply_id = launched["launchRun"]["run"]["runId"]

    def config_build() -> dg.DagsterRun | None:
        runs = [r for r in _writer_runs(instance) if r.tags.get("dagster/sensor_name")]
        assert all(r.tags["dagster/sensor_name"] == "config_sensor" for r in runs), runs
        finished = [
            r
            for r in runs
            if r.status in {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
        ]
        return finished[0] if finished else None

    build = _wait_for(config_build, 600, "config_sensor's rebuild to finish", dev.log)
    assert build.status == dg.DagsterRunStatus.SUCCESS
    assert instance.get_run_by_id(apply_id).status == dg.DagsterRunStatus.SUCCESS
    assert build.job_name == "build_job" and len(build.asset_selection) < 30  # a part of it

    warehouse = dev.site.warehouse
    stamp = dict(query(warehouse, "SELECT key, value FROM marts.publish_info"))
    assert (stamp["build_id"], stamp["config_version"]) == (build.run_id, "2")
    ((timeout,),) = query(
        warehouse,
        "SELECT setting_value FROM marts.config_settings WHERE setting_key = "
        "'policies.userSession.expireOnInactivityInMinutes'",
    )
    assert timeout == "3"
    ((run_id, diff),) = query(
        warehouse, "SELECT run_id, diff FROM marts.config_versions WHERE is_active"
    )
    assert run_id == apply_id
    assert diff == "~ policies.userSession.expireOnInactivityInMinutes: 10 -> 3"
    sessions = "SELECT count(*) FROM marts.fct_sessions"
    assert query(warehouse, sessions)[0][0] > query(base_site.warehouse, sessions)[0][0]


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event the run worker records when it starts."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if record.message.startswith("Started process for run (pid: "):
            return int(record.message.split("pid: ")[1].split(")")[0])
    return None


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    (record,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return record.message


def test_a_run_whose_process_was_killed_is_failed_and_the_queue_moves_on(
    dagster_dev_settled: DagsterDev, tmp_path: Path
):
    """kill -9 of a run's worker, then of all of `dagster dev` (its code server too, as when
    `make serve` gives up waiting for it to stop): nobody terminates anything in the UI, yet
    each killed run is marked failed and the run queued behind it starts."""
    dev, instance = dagster_dev_settled, dagster_dev_settled.instance()
    selector = {
        "repositoryLocationName": dev.location,
        "repositoryName": "__repository__",
        "jobName": "build_job",
    }

    def launch(dev: DagsterDev) -> str:
        launched = dev.graphql(LAUNCH_RUN, params={"selector": selector, "runConfigData": {}})
        assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
        return launched["launchRun"]["run"]["runId"]

    def started_worker(run_id: str) -> int | None:
        run = instance.get_run_by_id(run_id)
        assert not run.is_finished, run.status
        started = run.status == dg.DagsterRunStatus.STARTED
        return _worker_pid(instance, run_id) if started else None

    def finished(run_id: str, timeout: float, log: Path) -> dg.DagsterRun:
        return _wait_for(
            lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, timeout, run_id, log
        )

    # 1. the run worker alone is killed: its code server notices and fails the run
    first = launch(dev)
    pid = _wait_for(lambda: started_worker(first), 180, "the first run to start", dev.log)
    assert dev.pid in _ancestors(pid)  # a process of this `dagster dev`
    second = launch(dev)
    time.sleep(1)
    assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.QUEUED
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert finished(first, 300, dev.log).status == dg.DagsterRunStatus.FAILURE
    print(f"\nworker killed: run failed {time.monotonic() - killed_at:.1f} s later")

    # 2. the queued run starts; all of `dagster dev` is killed while it runs, a third run queued
    pid = _wait_for(lambda: started_worker(second), 180, "the queued run to start", dev.log)
    third = launch(dev)
    time.sleep(1)
    assert instance.get_run_by_id(third).status == dg.DagsterRunStatus.QUEUED
    os.killpg(dev.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(2)
    assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.STARTED  # nobody knows

    # 3. `dagster dev` again: its daemon finds the dead worker, fails the run, starts the next
    with _running(dev.site, tmp_path / "dagster-dev-again.log") as again:
        ready_at = time.monotonic()
        run = finished(second, 300, again.log)
        print(
            f"dagster dev killed: run failed {time.monotonic() - killed_at:.1f} s later, "
            f"{time.monotonic() - ready_at:.1f} s after dagster dev was up again"
        )
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert f"its run worker process ({socket.gethostname()}, pid {pid}) died" in (
            _failure_message(instance, second)
        )
        assert finished(third, 900, again.log).status == dg.DagsterRunStatus.SUCCESS
