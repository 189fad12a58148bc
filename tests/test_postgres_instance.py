"""The production switch of Dagster's instance storage to PostgreSQL (dagster-postgres).

A throw-away PostgreSQL server (Debian's postgresql package; `make test` installs it) holds the
run history of a real CLI run; SQLite in the state folder stays the default.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from conftest import sbm
from test_definitions import _landing

from orchestration.instance import POSTGRES_ENV


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as Debian's `postgres` user
    (runuser lives in /usr/sbin, which a non-login PATH may lack)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is not installed (`make test` installs Debian's postgresql)"
    bin_dir = Path(found[-1]).parent
    # not under pytest's temporary folder: that one is private to root, the server is not root
    root = Path(tempfile.mkdtemp(prefix="sbm-postgres-"))
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run(
        _as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "sbm"]),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
    subprocess.run(
        _as_postgres_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://sbm@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.server  # a PostgreSQL server
def test_run_history_goes_to_postgres_when_configured(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    landing, warehouse = _landing(tmp_path), tmp_path / "wh.duckdb"
    dagster_home = tmp_path / "wh.state" / "dagster"
    monkeypatch.setenv(POSTGRES_ENV, postgres_url)
    sbm("run", "--landing", landing, "--warehouse", warehouse, "--max-reject-ratio", "0.5")

    config = (dagster_home / "dagster.yaml").read_text()
    assert f"env: {POSTGRES_ENV}" in config and postgres_url not in config  # no secret on disk
    assert not (dagster_home / "history").exists()  # nothing went to SQLite
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    runs = instance.get_runs()
    assert [(r.job_name, r.status) for r in runs] == [("refresh_job", dg.DagsterRunStatus.SUCCESS)]
    instance.dispose()

    # a process without the variable must not switch a shared instance back to SQLite
    monkeypatch.delenv(POSTGRES_ENV)
    refused = sbm("run", "--landing", landing, "--warehouse", warehouse, check=False)
    assert refused.returncode == 1
    assert (
        "keeps its run history in PostgreSQL, but SBM_DAGSTER_POSTGRES_URL is not set"
        in (refused.stderr.strip().splitlines()[-1])
    )
    # switching back is deliberate: remove dagster.yaml; the next run uses SQLite there
    (dagster_home / "dagster.yaml").unlink()
    sbm(
        "run",
        "--landing",
        landing,
        "--warehouse",
        warehouse,
        "--full-refresh",
        "--max-reject-ratio",
        "0.5",
    )
    assert (dagster_home / "history" / "runs.db").is_file()


def test_a_postgres_url_dagster_cannot_use_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(POSTGRES_ENV, "postgresql://sbm:secret@db.example:5432/dagster")
    result = sbm(
        "run", "--landing", _landing(tmp_path), "--warehouse", tmp_path / "w.duckdb", check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"servisbot-metrics: error: {POSTGRES_ENV} must start with postgresql+psycopg2:// "
        "(got postgresql:...)"
    )
    assert "secret" not in result.stderr
