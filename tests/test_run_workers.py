"""The one check for runs whose process died (orchestration/run_workers.py), as the CLI and the
daemon's run monitoring apply it; `dagster dev` itself in tests/test_dagster_ui.py."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator

import dagster as dg
import pytest

from orchestration import run_workers
from orchestration.keys import CLI_PROCESS_TAG
from orchestration.run_workers import (
    WORKER_HOST_TAG,
    LocalRunLauncher,
    dead_worker,
    fail_dead_runs,
    process_identity,
)

HERE = socket.gethostname()


@dg.op
def noop() -> None:
    pass


@dg.job
def a_job():
    noop()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert process_identity(proc.pid) is None
    return proc.pid


def _started(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    return instance.create_run_for_job(a_job, status=dg.DagsterRunStatus.STARTED, tags=tags)


def _launched(instance: dg.DagsterInstance, pid: int, host: str = HERE) -> dg.DagsterRun:
    run = _started(instance, {WORKER_HOST_TAG: host})
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run)
    return run


def test_a_cli_run_is_judged_by_its_process_identity(instance, dead_pid):
    alive = _started(instance, {CLI_PROCESS_TAG: str(process_identity(os.getpid()))})
    assert dead_worker(instance, alive) is None
    dead = _started(instance, {CLI_PROCESS_TAG: f"{HERE}:{dead_pid}:123"})
    assert dead_worker(instance, dead) == (
        f"the servisbot-metrics process running it ({HERE}, pid {dead_pid}) died"
    )
    # this pid, but another process than the one that ran it (a reused pid)
    reused = _started(instance, {CLI_PROCESS_TAG: f"{HERE}:{os.getpid()}:1"})
    assert dead_worker(instance, reused) is not None
    elsewhere = _started(instance, {CLI_PROCESS_TAG: f"another-host:{dead_pid}:123"})
    assert dead_worker(instance, elsewhere) is None


def test_a_launched_run_is_judged_by_its_worker_on_this_host(instance, dead_pid, monkeypatch):
    assert dead_worker(instance, _launched(instance, os.getpid())) is None
    dead = _launched(instance, dead_pid)
    assert dead_worker(instance, dead) == f"its run worker process ({HERE}, pid {dead_pid}) died"
    assert dead_worker(instance, _launched(instance, dead_pid, "another-host")) is None
    not_yet = _started(instance, {WORKER_HOST_TAG: HERE})  # no worker recorded yet
    assert dead_worker(instance, not_yet) is None
    untagged = _started(instance, {})  # launched before this check existed, or elsewhere
    instance.report_engine_event(f"Started process for run (pid: {dead_pid}).", untagged)
    assert dead_worker(instance, untagged) is None
    # a live process that started after the worker recorded its pid is another process
    monkeypatch.setattr(run_workers, "_started_at", lambda pid: time.time() + 10)
    assert dead_worker(instance, _launched(instance, os.getpid())) is not None


def test_the_cli_and_the_launcher_fail_only_dead_runs(instance, dead_pid):
    live_cli = _started(instance, {CLI_PROCESS_TAG: str(process_identity(os.getpid()))})
    live = _launched(instance, os.getpid())
    dead = _launched(instance, dead_pid)
    launcher = LocalRunLauncher()
    launcher.register_instance(instance)
    assert launcher.supports_check_run_worker_health
    health = {r.run_id: launcher.check_run_worker_health(r).status.value for r in (live, dead)}
    assert health == {live.run_id: "RUNNING", dead.run_id: "FAILED"}
    assert launcher.check_run_worker_health(live_cli).status.value == "RUNNING"

    fail_dead_runs(instance)
    status = {r.run_id: instance.get_run_by_id(r.run_id).status for r in (live_cli, live, dead)}
    assert status == {
        live_cli.run_id: dg.DagsterRunStatus.STARTED,
        live.run_id: dg.DagsterRunStatus.STARTED,
        dead.run_id: dg.DagsterRunStatus.FAILURE,
    }


def test_the_instance_monitors_runs_with_this_launcher(tmp_path):
    from orchestration.instance import instance_for

    with instance_for(tmp_path / "dagster") as instance:
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_poll_interval_seconds <= 10
        assert instance.run_monitoring_max_resume_run_attempts == 0
