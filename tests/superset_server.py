"""A real Superset server over a published warehouse, and an API client for it.

Shared by the Superset tests (``tests/test_superset*.py``) and the readers benchmark
(``benchmarks/readers_under_load.py``); it imports nothing from pytest. The server runs in the
separate Superset environment (``superset/.venv``, built by ``make setup``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
SUPERSET_DIR = REPO / "superset"
SUPERSET_PYTHON = SUPERSET_DIR / ".venv" / "bin" / "python"
PROVISION = SUPERSET_DIR / "provision.py"
ASSETS = SUPERSET_DIR / "assets"
SERVER_START_TIMEOUT_S = 120


class ServerError(RuntimeError):
    """Superset could not be provisioned or started (the message ends with its log)."""


@dataclass
class Superset:
    base_url: str
    state_dir: Path
    warehouse: Path
    log: Path
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.session.get(self.base_url + path, timeout=60, **kwargs)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, payload: dict[str, Any]) -> requests.Response:
        return self.session.post(self.base_url + path, json=payload, timeout=120)

    def put(self, path: str, payload: dict[str, Any]) -> requests.Response:
        return self.session.put(self.base_url + path, json=payload, timeout=120)

    def password(self, username: str) -> str:
        return (self.state_dir / f"{username}_password").read_text().strip()

    def login(self, username: str, password: str | None = None) -> Superset:
        """A client of the same server with the API session of `username` (password from the
        state folder's generated file unless given)."""
        client = Superset(self.base_url, self.state_dir, self.warehouse, self.log)
        login = client.post(
            "/api/v1/security/login",
            {"username": username, "password": password or self.password(username),
             "provider": "db", "refresh": False},
        )  # fmt: skip
        assert login.status_code == 200, f"login {username}: {login.text}"
        client.session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = client.get("/api/v1/security/csrf_token/")["result"]
        client.session.headers.update({"X-CSRFToken": csrf, "Referer": self.base_url})
        return client

    def sql(self, statement: str) -> requests.Response:
        database = self.list("database")[0]
        return self.post(
            "/api/v1/sqllab/execute/",
            {"database_id": database["id"], "sql": statement, "runAsync": False},
        )

    def list(self, resource: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get(
            f"/api/v1/{resource}/", params={"q": "(page_size:100)"}
        )["result"]
        return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def server_env(state: Path, warehouse: Path) -> dict[str, str]:
    """The environment of provision.py: ours without SUPERSET_* (so that the secrets are
    generated into `state`), pointed at `state` and `warehouse`."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    for name in list(env):
        if name.startswith("SUPERSET_"):
            env.pop(name)
    env.update(SUPERSET_STATE_DIR=str(state), WAREHOUSE_PATH=str(warehouse))
    return env


def provision(env: dict[str, str], log: Path, *args: str) -> str:
    """Run provision.py (`setup`, ...) in the Superset environment; its stdout."""
    if not SUPERSET_PYTHON.exists():
        raise ServerError(
            f"{SUPERSET_PYTHON} not found: build the Superset env first with "
            "`uv sync --project superset` (`make setup` does this)"
        )
    result = subprocess.run(
        [str(SUPERSET_PYTHON), str(PROVISION), *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    with log.open("a") as handle:
        handle.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise ServerError(
            f"provision.py {args} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result.stdout


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 2) -> Iterator[str]:
    """`provision.py serve` on a free loopback port until the block ends; yields its base URL
    once /health answers OK. The server is stopped (its process group) on exit."""
    port = free_port()
    with log.open("ab") as log_handle:
        proc = subprocess.Popen(
            [str(SUPERSET_PYTHON), str(PROVISION), "serve", "--port", str(port),
             "--workers", str(workers)],
            env=env, stdout=log_handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise ServerError(f"server exited with {proc.returncode}:\n{tail(log)}")
            try:
                if requests.get(base_url + "/health", timeout=5).text == "OK":
                    break
            except requests.RequestException:  # refused, or workers still booting
                pass
            if time.monotonic() - started > SERVER_START_TIMEOUT_S:
                raise ServerError(f"/health not OK after {SERVER_START_TIMEOUT_S}s:\n{tail(log)}")
            time.sleep(0.5)
        yield base_url
    finally:
        _stop(proc)


@contextmanager
def running_superset(
    warehouse: Path, work: Path, report: Callable[[str], None] = print
) -> Iterator[Superset]:
    """Provision a fresh state folder in `work` for `warehouse`, serve it, and yield an admin
    client; the server stops when the block ends."""
    state, log = work / "state", work / "superset.log"
    env = server_env(state, warehouse)
    started = time.monotonic()
    provision(env, log, "setup")
    report(f"provision.py setup: {time.monotonic() - started:.1f}s")
    started = time.monotonic()
    with serve(env, log) as base_url:
        report(f"server up on {base_url}: {time.monotonic() - started:.1f}s")
        yield Superset(base_url, state, warehouse, log).login("admin")
