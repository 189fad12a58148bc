"""Runs whose process died: found by one check, used by the daemon and by the CLI.

A run whose worker process is killed (`kill -9`, the OOM killer, `dagster dev` or the machine
stopped mid-run) would stay STARTED in the history, and since the instance runs one run at a
time, every queued run would wait for it. The check: the process that executes the run is gone
from the host that ran it.

- CLI runs execute in the `servisbot-metrics` process, tagged CLI_PROCESS_TAG: host:pid:start
  time (a reused pid has another start time).
- Runs launched by `dagster dev` (UI, sensors, schedule, backfills) execute in a run worker
  that the code server starts; the worker records its pid in the engine event "Started process
  for run (pid: N)", and LocalRunLauncher tags the run with the host when the code server is
  local (a socket or localhost). A process with that pid started after the event is another one.

Runs whose worker is on another host, or that carry neither record, are never judged.

Who applies it: `dagster dev`'s daemon, through Dagster's run monitoring (`run_monitoring:` in
dagster.yaml, orchestration/instance.py), which asks the run launcher of every STARTED run
whether its worker is alive and marks it failed when not. Dagster's DefaultRunLauncher cannot
answer (dagster 1.13: RunLauncher.supports_check_run_worker_health is False and it does not
override it), hence LocalRunLauncher. The code server also fails a run whose worker dies while
the code server itself lives; this covers the rest (the code server killed or restarted with
it, `dagster dev` killed, a reboot: the daemon fails the run when `dagster dev` starts again).
Every CLI command applies it too, before its run (runner.py).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus

from orchestration.keys import CLI_PROCESS_TAG

WORKER_HOST_TAG = "servisbot-metrics/worker-host"  # runs launched by a local code server
_STARTED_PROCESS = "Started process for run (pid: "  # dagster/_grpc/impl.py, the run worker
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def process_identity(pid: int) -> str | None:
    """host:pid:start time, or None when no such process runs here (a reused pid differs)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    started = stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name
    return f"{socket.gethostname()}:{pid}:{started}"


def _started_at(pid: int) -> float | None:
    """When the process started (seconds since the epoch, to within a second), or None."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _worker_started(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The run worker's pid and when it said so, from its first engine event."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if record.message.startswith(_STARTED_PROCESS):
            return int(record.message[len(_STARTED_PROCESS) :].split(")")[0]), record.timestamp
    return None


def dead_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why the process executing this run is known to be gone, or None: alive, or not ours to
    judge (another host, no record of its process)."""
    here = socket.gethostname()
    identity = run.tags.get(CLI_PROCESS_TAG)
    if identity is not None:
        host, _, rest = identity.partition(":")
        if host != here or process_identity(int(rest.split(":")[0])) == identity:
            return None
        return f"the servisbot-metrics process running it ({host}, pid {rest.split(':')[0]}) died"
    if run.tags.get(WORKER_HOST_TAG) != here:
        return None
    worker = _worker_started(instance, run.run_id)
    if worker is None:
        return None  # not started yet
    pid, said_at = worker
    started = _started_at(pid)
    if started is not None and started <= said_at + 1:  # another process would be younger
        return None
    return f"its run worker process ({here}, pid {pid}) died"


def fail_dead_runs(instance: dg.DagsterInstance) -> None:
    """Mark STARTED runs whose process died on this host as failed (the CLI, before its run)."""
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        reason = dead_worker(instance, run)
        if reason:
            instance.report_run_failed(run, f"Marked failed: {reason}.")


class LocalRunLauncher(dg.DefaultRunLauncher):
    """Dagster's DefaultRunLauncher (run workers started by the code server), which can tell
    the daemon's run monitoring whether a run's worker is alive on this host."""

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.remote_job_origin
        if context.workspace and origin:
            location = context.workspace.get_code_location(
                origin.repository_origin.code_location_origin.location_name
            )
            client = getattr(location, "client", None)
            if client is not None and (client.socket or client.host in _LOCAL_HOSTS):
                self._instance.add_run_tags(run.run_id, {WORKER_HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        reason = dead_worker(self._instance, run)
        if reason:
            return CheckRunHealthResult(WorkerStatus.FAILED, reason)
        # alive, or not ours to judge: anything else than RUNNING would fail the run
        return CheckRunHealthResult(WorkerStatus.RUNNING)
