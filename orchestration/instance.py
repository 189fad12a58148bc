"""The Dagster instance of a warehouse: run history, schedules and sensors, the run queue.

`<state>/dagster/dagster.yaml` is written by the first CLI run and by `make serve`, so
`dagster dev` and the CLI share one history. Storage is SQLite in that folder unless
SBM_DAGSTER_POSTGRES_URL is set (postgresql+psycopg2://user:password@host:port/db, through
dagster-postgres); the URL is read from the environment when the instance starts and never
written into the file. A process whose environment disagrees with the file about where the
history lives is refused rather than allowed to switch it under a running `dagster dev`.

    python -m orchestration.instance DAGSTER_HOME    writes the file (used by scripts/serve.sh)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg

POSTGRES_ENV = "SBM_DAGSTER_POSTGRES_URL"
# dagster-postgres needs psycopg2; SQLAlchemy 2.1 opens a bare postgresql:// with psycopg 3
POSTGRES_SCHEME = "postgresql+psycopg2://"


class InstanceConfigError(ValueError):
    pass


def _sqlite_storage(dagster_home: Path) -> str:
    """Dagster's default SQLite layout under DAGSTER_HOME, with the event log's connections kept
    open (event_log.py). Absolute paths: the file is rewritten for a state folder copied or
    moved elsewhere, since the content then differs."""
    home = dagster_home.resolve()
    return f"""run_storage:
  module: dagster._core.storage.runs
  class: SqliteRunStorage
  config:
    base_dir: {home / "history"}
event_log_storage:
  module: orchestration.event_log
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {home / "history" / "runs"}
schedule_storage:
  module: dagster._core.storage.schedules
  class: SqliteScheduleStorage
  config:
    base_dir: {home / "schedules"}
"""


def instance_yaml(dagster_home: Path) -> str:
    config = """telemetry:
  enabled: false
# This instance serves one warehouse, and every run writes its state: one run at a time,
# whichever way it was launched (UI, backfill, sensor, schedule); the others are queued, not
# failed. CLI runs execute in-process, outside the queue: like every run, each of their
# writing steps takes the state folder's file lock, which the kernel releases even when the
# process is killed (a Dagster pool slot would stay claimed by a killed run).
concurrency:
  runs:
    max_concurrent_runs: 1
# A run whose process died (kill -9, the OOM killer, `dagster dev` stopped or the machine
# rebooted mid-run) would stay STARTED and hold the queue: the daemon's run monitoring asks
# the launcher, every few seconds, whether each STARTED run's worker still runs on this host,
# and marks it failed when not (orchestration/run_workers.py; Dagster's own launcher cannot
# tell). A run that does not start, or does not stop once terminated, in 3 minutes is ended too.
run_launcher:
  module: orchestration.run_workers
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 5
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
"""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        if not url.startswith(POSTGRES_SCHEME):
            raise InstanceConfigError(
                f"{POSTGRES_ENV} must start with {POSTGRES_SCHEME} (got {url.split(':')[0]}:...)"
            )
        config += f"""storage:
  postgres:
    postgres_url:
      env: {POSTGRES_ENV}
"""
    else:
        config += _sqlite_storage(dagster_home)
    return config


def _uses_postgres(config: str) -> bool:
    return "postgres_url:" in config


def write_instance_yaml(dagster_home: Path) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    content = instance_yaml(dagster_home)
    if target.exists():
        current = target.read_text()
        if current == content:
            return target
        if _uses_postgres(current) != _uses_postgres(content):
            where = "PostgreSQL" if _uses_postgres(current) else "SQLite"
            raise InstanceConfigError(
                f"the Dagster instance in {dagster_home} keeps its run history in {where}, but "
                f"{POSTGRES_ENV} is {'not set' if where == 'PostgreSQL' else 'set'}: set it as "
                "for the other processes, or delete dagster.yaml there to switch"
            )
    tmp = target.with_name(f".dagster.yaml.{os.getpid()}")
    tmp.write_text(content)
    os.replace(tmp, target)
    return target


def instance_for(dagster_home: Path) -> dg.DagsterInstance:
    write_instance_yaml(dagster_home)
    return dg.DagsterInstance.from_config(str(dagster_home))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m orchestration.instance DAGSTER_HOME")
    try:
        print(write_instance_yaml(Path(sys.argv[1])))
    except InstanceConfigError as exc:
        sys.exit(f"error: {exc}")
