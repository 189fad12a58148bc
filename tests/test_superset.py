"""End to end over the Superset layer: provision twice, serve, query every dashboard chart.

Needs the separate Superset environment (``uv sync --project superset``; ``make test`` does it).
Superset reads a copy of ``published_warehouse`` so the test can republish it (os.replace).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
SUPERSET_DIR = REPO / "superset"
SUPERSET_PYTHON = SUPERSET_DIR / ".venv" / "bin" / "python"
PROVISION = SUPERSET_DIR / "provision.py"
DASHBOARD_TITLE = "Usage Metrics"
CHART_NAMES = {"Total impressions", "Conversations started", "Daily usage trend"}
METRIC_PREFIX = "total_"  # dataset metric total_<column> is SUM(<column>)
SERVER_START_TIMEOUT_S = 120


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

    def list(self, resource: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get(
            f"/api/v1/{resource}/", params={"q": "(page_size:100)"}
        )["result"]
        return result


def _report(config: pytest.Config, message: str) -> None:
    """Print a timing line even while pytest captures output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"[superset] {message}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _provision(env: dict[str, str], log: Path, *args: str) -> str:
    result = subprocess.run(
        [str(SUPERSET_PYTHON), str(PROVISION), *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    with log.open("a") as handle:
        handle.write(result.stdout + result.stderr)
    assert result.returncode == 0, (
        f"provision.py {args} exited {result.returncode}:\n" + (result.stderr[-4000:])
    )
    return result.stdout


def _warehouse_sum(warehouse: Path, column: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(f'SELECT coalesce(sum("{column}"), 0) FROM marts.usage_daily').fetchone()
    assert row is not None
    return int(row[0])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def superset(
    request: pytest.FixtureRequest,
    published_warehouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Superset]:
    if not SUPERSET_PYTHON.exists():
        pytest.fail(
            f"{SUPERSET_PYTHON} not found: build the Superset env first with "
            "`uv sync --project superset` (the Makefile's test target does this)"
        )
    work = tmp_path_factory.mktemp("superset")
    warehouse = work / "warehouse.duckdb"
    shutil.copyfile(published_warehouse, warehouse)
    state = work / "state"
    log = work / "superset.log"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    for name in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_CONFIG_PATH"):
        env.pop(name, None)  # exercise the generated secrets
    env.update(SUPERSET_STATE_DIR=str(state), WAREHOUSE_PATH=str(warehouse))

    for attempt in (1, 2):
        started = time.monotonic()
        out = _provision(env, log, "setup")
        generated = "Generated the Superset admin password" in out
        assert generated == (attempt == 1), f"setup #{attempt} password message:\n{out}"
        _report(request.config, f"provision.py setup #{attempt}: {time.monotonic() - started:.1f}s")

    port = _free_port()
    started = time.monotonic()
    with log.open("ab") as log_handle:
        proc = subprocess.Popen(
            [str(SUPERSET_PYTHON), str(PROVISION), "serve", "--port", str(port)],
            env=env, stdout=log_handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{_tail(log)}")
            try:
                if requests.get(base_url + "/health", timeout=5).text == "OK":
                    break
            except requests.RequestException:  # refused, or workers still booting
                pass
            if time.monotonic() - started > SERVER_START_TIMEOUT_S:
                pytest.fail(f"/health not OK after {SERVER_START_TIMEOUT_S}s:\n{_tail(log)}")
            time.sleep(0.5)
        _report(request.config, f"server up on {base_url}: {time.monotonic() - started:.1f}s")

        password_file = state / "admin_password"
        client = Superset(base_url, state, warehouse, log)
        login = client.post(
            "/api/v1/security/login",
            {"username": "admin", "password": password_file.read_text().strip(),
             "provider": "db", "refresh": False},
        )  # fmt: skip
        assert login.status_code == 200, login.text
        client.session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        csrf = client.get("/api/v1/security/csrf_token/")["result"]
        client.session.headers.update({"X-CSRFToken": csrf, "Referer": base_url})
        yield client
    finally:
        _stop(proc)


def _dashboard(superset: Superset) -> dict[str, Any]:
    matches = [d for d in superset.list("dashboard") if d["dashboard_title"] == DASHBOARD_TITLE]
    assert len(matches) == 1, f"expected one {DASHBOARD_TITLE!r} dashboard, got {len(matches)}"
    return matches[0]


def _run_chart(superset: Superset, chart_id: int) -> dict[str, Any]:
    chart = superset.get(f"/api/v1/chart/{chart_id}")["result"]
    assert chart["query_context"], f"chart {chart['slice_name']!r} has no saved query_context"
    response = superset.post("/api/v1/chart/data", json.loads(chart["query_context"]))
    assert response.status_code == 200, f"{chart['slice_name']}: {response.text[:2000]}"
    result: dict[str, Any] = response.json()["result"][0]
    assert not result.get("error"), f"{chart['slice_name']}: {result['error']}"
    assert result["status"] == "success", result
    return result


def _assert_matches_warehouse(superset: Superset, name: str, result: dict[str, Any]) -> int:
    compared = 0
    for colname in result["colnames"]:
        if not colname.startswith(METRIC_PREFIX):
            continue
        column = colname.removeprefix(METRIC_PREFIX)
        got = sum(row[colname] or 0 for row in result["data"])
        expected = _warehouse_sum(superset.warehouse, column)
        assert got == expected, f"{name}: {colname} is {got}, warehouse sum({column}) {expected}"
        compared += 1
    assert compared, f"{name}: no {METRIC_PREFIX}* metric in {result['colnames']}"
    return compared


def test_generated_secrets_are_private(superset: Superset) -> None:
    for name in ("admin_password", "secret_key"):
        mode = stat.S_IMODE((superset.state_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_server_listens_on_loopback_only(superset: Superset) -> None:
    assert f"Listening at: {superset.base_url}" in _tail(superset.log, 200_000)


def test_second_setup_did_not_duplicate(superset: Superset) -> None:
    _dashboard(superset)
    assert [d["database_name"] for d in superset.list("database")] == ["ServisBOT warehouse"]
    datasets = [(d["schema"], d["table_name"]) for d in superset.list("dataset")]
    assert datasets == [("marts", "usage_daily")]
    names = sorted(c["slice_name"] for c in superset.list("chart"))
    assert names == sorted(CHART_NAMES)


def test_dashboard_has_time_filter_on_all_charts(superset: Superset) -> None:
    dashboard = superset.get(f"/api/v1/dashboard/{_dashboard(superset)['id']}")["result"]
    charts = superset.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
    assert {c["slice_name"] for c in charts} == CHART_NAMES
    filters = json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    time_filters = [f for f in filters if f["filterType"] == "filter_time"]
    assert len(time_filters) == 1
    assert sorted(time_filters[0]["chartsInScope"]) == sorted(c["id"] for c in charts)
    dataset = superset.list("dataset")[0]
    detail = superset.get(f"/api/v1/dataset/{dataset['id']}")["result"]
    assert detail["main_dttm_col"] == "metric_date"
    assert all(c["description"] for c in detail["columns"]), "every column is described"
    page = superset.session.get(
        f"{superset.base_url}/superset/dashboard/usage-metrics/", timeout=60
    )
    assert page.status_code == 200


def test_every_chart_matches_warehouse(superset: Superset, request: pytest.FixtureRequest) -> None:
    charts = superset.get(f"/api/v1/dashboard/{_dashboard(superset)['id']}/charts")["result"]
    assert len(charts) == len(CHART_NAMES)
    for chart in charts:
        started = time.monotonic()
        result = _run_chart(superset, chart["id"])
        compared = _assert_matches_warehouse(superset, chart["slice_name"], result)
        _report(
            request.config,
            f"chart {chart['slice_name']!r}: {compared} metric(s) match "
            f"({time.monotonic() - started:.2f}s)",
        )


def test_database_is_read_only(superset: Superset) -> None:
    database = superset.list("database")[0]
    detail = superset.get(f"/api/v1/database/{database['id']}")["result"]
    assert detail["allow_dml"] is False
    assert detail["expose_in_sqllab"] is True

    def sql(statement: str) -> requests.Response:
        return superset.post(
            "/api/v1/sqllab/execute/",
            {"database_id": database["id"], "sql": statement, "runAsync": False},
        )

    mode = sql("SELECT current_setting('access_mode') AS access_mode")
    assert mode.status_code == 200, mode.text
    assert mode.json()["data"] == [{"access_mode": "read_only"}]
    dml = sql("DELETE FROM marts.usage_daily")
    assert dml.status_code >= 400
    assert "DML_NOT_ALLOWED" in dml.text


def test_republished_warehouse_shows_without_restart(superset: Superset) -> None:
    # Superset must hold no connection between queries: a writer can open the file.
    duckdb.connect(str(superset.warehouse)).close()

    # Publish a new version the way the pipeline does: build beside, then os.replace.
    staged = superset.warehouse.with_name("warehouse.next.duckdb")
    shutil.copyfile(superset.warehouse, staged)
    with duckdb.connect(str(staged)) as con:
        con.execute("UPDATE marts.usage_daily SET impressions = impressions + 1")
        rows = con.execute("SELECT count(*) FROM marts.usage_daily").fetchone()
    assert rows is not None and rows[0] > 0, "the published warehouse has no usage rows"
    before = _warehouse_sum(superset.warehouse, "impressions")
    os.replace(staged, superset.warehouse)
    assert _warehouse_sum(superset.warehouse, "impressions") == before + rows[0]

    charts = superset.get(f"/api/v1/dashboard/{_dashboard(superset)['id']}/charts")["result"]
    chart = next(c for c in charts if c["slice_name"] == "Total impressions")
    result = _run_chart(superset, chart["id"])
    assert result["data"] == [{"total_impressions": before + rows[0]}]
