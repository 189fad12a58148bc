"""End to end over the Superset layer: provision twice, serve, query every chart of the five
dashboards through the API, check the roles, and drive the dashboards in a real browser.

Needs the separate Superset environment (``uv sync --project superset``) and Debian's chromium
(``make test`` provides both). Superset reads a copy of ``dashboard_warehouse`` (the demo data
with the demo configuration) so that the test can republish it (os.replace).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import yaml
from conftest import report_line
from superset_server import ASSETS, Superset, provision, serve, server_env, tail

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

# A Superset server and a browser (one worker runs the module: conftest.ONE_WORKER_MODULES).
pytestmark = pytest.mark.server

DASHBOARDS = {  # slug: title
    "usage-metrics": "Usage Metrics",
    "intent-drilldown": "Intent Drilldown",
    "api-metrics": "API Metrics",
    "kpi-metrics": "KPI Metrics",
    "configuration": "Configuration",
}
# Charts of configuration tables: no date, organization or bot to filter on.
UNDATED_CHARTS = {"Active configuration", "Configured KPI use cases", "Configuration history"}
USAGE_DATASET = "usage_daily"
METRIC_PREFIX = "total_"  # usage_daily metric total_<column> is SUM(<column>)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _warehouse_sum(warehouse: Path, column: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(f'SELECT coalesce(sum("{column}"), 0) FROM marts.usage_daily').fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def superset(
    request: pytest.FixtureRequest,
    dashboard_warehouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Superset]:
    work = tmp_path_factory.mktemp("superset")
    warehouse = work / "warehouse.duckdb"
    shutil.copyfile(dashboard_warehouse, warehouse)
    state = work / "state"
    log = work / "superset.log"
    env = server_env(state, warehouse)  # without SUPERSET_*: exercise the generated secrets

    for attempt in (1, 2):
        started = time.monotonic()
        out = provision(env, log, "setup")
        generated = "Generated the Superset admin password" in out
        assert generated == (attempt == 1), f"setup #{attempt} password message:\n{out}"
        report_line(
            request.config, f"provision.py setup #{attempt}: {time.monotonic() - started:.1f}s"
        )

    started = time.monotonic()
    with serve(env, log) as base_url:
        report_line(request.config, f"server up on {base_url}: {time.monotonic() - started:.1f}s")
        yield Superset(base_url, state, warehouse, log).login("admin")


def _bundle(kind: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ASSETS / kind).rglob("*.yaml"))]


def _dashboards(superset: Superset) -> dict[str, dict[str, Any]]:
    """slug -> dashboard, asserting that each of the five exists once."""
    found = superset.list("dashboard")
    assert sorted(d["dashboard_title"] for d in found) == sorted(DASHBOARDS.values())
    return {d["slug"]: d for d in found}


def _charts(superset: Superset, dashboard_id: int) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = superset.get(f"/api/v1/dashboard/{dashboard_id}/charts")[
        "result"
    ]
    return charts


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
    return compared


def test_generated_secrets_are_private(superset: Superset) -> None:
    names = ["secret_key", "admin_password", "viewer_password", "analyst_password"]
    for name in names:
        mode = stat.S_IMODE((superset.state_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_server_listens_on_loopback_only(superset: Superset) -> None:
    assert f"Listening at: {superset.base_url}" in tail(superset.log, 200_000)


def test_pages_may_load_nothing_from_another_host(superset: Superset) -> None:
    page = superset.session.get(f"{superset.base_url}/login/", timeout=60)
    policy = page.headers["Content-Security-Policy"]
    local = {"'self'", "'none'", "'unsafe-inline'", "'strict-dynamic'", "blob:", "data:"}
    for directive in filter(None, (d.strip() for d in policy.split(";"))):
        name, *sources = directive.split()
        other = [s for s in sources if s not in local and not s.startswith("'nonce-")]
        assert not other, f"{name} allows {other}"


def test_second_setup_did_not_duplicate(superset: Superset) -> None:
    _dashboards(superset)
    assert [d["database_name"] for d in superset.list("database")] == ["ServisBOT warehouse"]
    datasets = sorted((d["schema"], d["table_name"]) for d in superset.list("dataset"))
    assert datasets == sorted((d["schema"], d["table_name"]) for d in _bundle("datasets"))
    names = sorted(c["slice_name"] for c in superset.list("chart"))
    assert names == sorted(c["slice_name"] for c in _bundle("charts"))


def test_every_dataset_is_explained(superset: Superset) -> None:
    for dataset in superset.list("dataset"):
        detail = superset.get(f"/api/v1/dataset/{dataset['id']}")["result"]
        name = detail["table_name"]
        assert detail["description"], f"{name} has no description"
        assert all(c["description"] for c in detail["columns"]), f"{name}: undescribed column"
        assert all(m["description"] for m in detail["metrics"]), f"{name}: undescribed metric"


def test_every_dashboard_filters_date_organization_and_bot(superset: Superset) -> None:
    for slug, dashboard in _dashboards(superset).items():
        detail = superset.get(f"/api/v1/dashboard/{dashboard['id']}")["result"]
        charts = _charts(superset, dashboard["id"])
        dated = sorted(c["id"] for c in charts if c["slice_name"] not in UNDATED_CHARTS)
        filters = json.loads(detail["json_metadata"])["native_filter_configuration"]
        time_filter = next(f for f in filters if f["filterType"] == "filter_time")
        assert time_filter["defaultDataMask"]["extraFormData"] == {"time_range": "Last 30 days"}
        assert sorted(time_filter["chartsInScope"]) == dated, f"{slug}: date filter scope"
        columns = {f["targets"][0]["column"]["name"] for f in filters if f["targets"][0]}
        if slug != "configuration":
            assert columns == {"organization", "bot"}, f"{slug}: filters {columns}"
            for native_filter in filters:
                assert sorted(native_filter["chartsInScope"]) == dated, native_filter["name"]
        page = superset.session.get(f"{superset.base_url}/superset/dashboard/{slug}/", timeout=60)
        assert page.status_code == 200


def test_every_chart_returns_data(superset: Superset, request: pytest.FixtureRequest) -> None:
    usage = {d["id"] for d in superset.list("dataset") if d["table_name"] == USAGE_DATASET}
    compared = 0
    for slug, dashboard in _dashboards(superset).items():
        for chart in _charts(superset, dashboard["id"]):
            started = time.monotonic()
            result = _run_chart(superset, chart["id"])
            name = f"{slug}/{chart['slice_name']}"
            assert result["rowcount"] > 0, f"{name}: no rows for the demo data"
            detail = superset.get(f"/api/v1/chart/{chart['id']}")["result"]
            params = json.loads(detail["params"])
            if params.get("query_mode") == "raw":  # a table of rows: its saved query's order
                (saved,) = json.loads(detail["query_context"])["queries"]
                assert saved["orderby"], f"{name}: a table of rows in no order"
                assert saved["orderby"] == [json.loads(o) for o in params["order_by_cols"]], name
            if json.loads(detail["query_context"])["datasource"]["id"] in usage:
                compared += _assert_matches_warehouse(superset, name, result)
            report_line(request.config, f"{name}: {result['rowcount']} row(s), "
                    f"{time.monotonic() - started:.2f}s")  # fmt: skip
    assert compared >= 10, "usage charts were compared with the warehouse"


def test_database_is_read_only(superset: Superset) -> None:
    database = superset.list("database")[0]
    detail = superset.get(f"/api/v1/database/{database['id']}")["result"]
    assert detail["allow_dml"] is False
    assert detail["expose_in_sqllab"] is True
    mode = superset.sql("SELECT current_setting('access_mode') AS access_mode")
    assert mode.status_code == 200, mode.text
    assert mode.json()["data"] == [{"access_mode": "read_only"}]
    dml = superset.sql("DELETE FROM marts.usage_daily")
    assert dml.status_code >= 400
    assert "DML_NOT_ALLOWED" in dml.text


def test_viewer_reads_dashboards_only(superset: Superset) -> None:
    viewer = superset.login("viewer")
    chart = _charts(viewer, _dashboards(viewer)["api-metrics"]["id"])[0]
    assert _run_chart(viewer, chart["id"])["rowcount"] > 0
    assert viewer.sql("SELECT 1").status_code == 403, "viewer must not reach SQL Lab"
    created = viewer.post(
        "/api/v1/chart/",
        {"slice_name": "x", "viz_type": "table", "datasource_id": 1, "datasource_type": "table"},
    )
    assert created.status_code == 403, "viewer must not create charts"


def test_analyst_sql_lab_on_marts_only(superset: Superset) -> None:
    analyst = superset.login("analyst")
    select = analyst.sql("SELECT count(*) AS days FROM marts.usage_daily")
    assert select.status_code == 200, select.text
    assert select.json()["data"][0]["days"] > 0
    insert = analyst.sql("INSERT INTO marts.usage_daily SELECT * FROM marts.usage_daily")
    assert insert.status_code >= 400 and "DML_NOT_ALLOWED" in insert.text, insert.text
    for table in ("audit.rejected_events", "staging.stg_messenger__events"):
        denied = analyst.sql(f"SELECT count(*) FROM {table}")
        assert denied.status_code >= 400, f"analyst read {table}"
        assert "TABLE_SECURITY_ACCESS_ERROR" in denied.text, denied.text


def _pick_last_week(page: Page) -> None:
    """Open the date filter, choose range type Last (typed into the select: a mouse click on the
    option can land while its dropdown still animates and be lost), then Last week. Each of
    three attempts first opens the filter's popover if it is not open (a click on the trigger
    can be lost too while the filter bar renders)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    trigger = page.locator('[data-test="time-range-trigger"]').first
    range_type = page.locator('.ant-popover [data-test="Range type"]')
    last_week = page.locator(".ant-popover").get_by_text("Last week", exact=True)
    for attempt in range(3):
        try:
            if not range_type.is_visible():
                trigger.click(timeout=10_000)
            range_type.click(timeout=10_000)
            page.keyboard.type("Last")
            page.keyboard.press("Enter")
            last_week.click(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise


def _log_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in through the login form, filled once the page is idle and checked before the
    click. (Typed at once, a loaded run once stayed on the login page: a sign-in without the
    typed values, most likely a re-render of the form while the page was still loading.)"""
    from playwright.sync_api import expect

    fields = (("input#username", username), ("input#password", password))
    page.goto(url, wait_until="networkidle")
    for selector, value in fields:
        page.fill(selector, value)
    for selector, value in fields:
        expect(page.locator(selector)).to_have_value(value)
    page.locator('[data-test="login-button"]').click()
    page.wait_for_url(lambda current: "/login" not in current)


def _await_dashboard(page: Page, title: str, name: str, shot: Path) -> None:
    """Wait until the dashboard's header shows its title and no chart is loading. On a timeout,
    fail with what the page shows instead (and a screenshot in `shot`)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect

    # The title is the header's input (editable by an owner). Its text is also in an offscreen
    # sizer span and in the dashboard's markdown, which are not what the viewer reads.
    header_title = page.locator('[data-test="editable-title-input"]')
    try:
        expect(header_title).to_have_value(title, timeout=60_000)
        page.wait_for_function("() => !document.querySelector('.dashboard .loading')")
    except (AssertionError, PlaywrightTimeoutError) as error:
        page.screenshot(path=str(shot), full_page=True)
        shown = page.locator("body").inner_text()[:2000]
        pytest.fail(f"{name}: {error}\nscreenshot: {shot}\nthe page shows:\n{shown}")


def _is_chart_query(response: Response, time_range: str | None = None) -> bool:
    """A chart's data query (with `time_range` in its filters, if given)."""
    if "/api/v1/chart/data" not in response.url or response.request.method != "POST":
        return False
    return time_range is None or time_range in (response.request.post_data or "")


def test_viewer_browses_every_dashboard_in_chromium(
    superset: Superset, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: `apt-get install chromium` (make test does it)")
    from playwright.sync_api import Request, sync_playwright

    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    responses: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    outside: dict[str, str] = {}  # a request for another host -> why it failed ("" = sent)

    def on_request(request: Request) -> None:
        if request.url.startswith("http") and not request.url.startswith(superset.base_url):
            outside[request.url] = ""

    def on_request_failed(request: Request) -> None:
        if request.url in outside:
            outside[request.url] = request.failure or ""

    def on_response(response: Response) -> None:
        if _is_chart_query(response):
            body = json.loads(response.request.post_data or "{}")
            responses.append((response.status, body, response.json()))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.on("response", on_response)
            page.on("request", on_request)
            page.on("requestfailed", on_request_failed)
            _log_in(page, f"{superset.base_url}/login/", "viewer", superset.password("viewer"))
            for slug, title in DASHBOARDS.items():
                started = time.monotonic()
                for time_range in ("Last 30 days", "Last week"):
                    responses.clear()
                    if time_range == "Last 30 days":
                        page.goto(f"{superset.base_url}/superset/dashboard/{slug}/")
                        page.wait_for_load_state("networkidle")
                    else:  # the viewer picks Last week in the date filter and applies it
                        _pick_last_week(page)
                        page.locator('[data-test="date-filter-control__apply-button"]').click()
                        # the page has long been idle: wait for a chart's answer under the new
                        # range (Superset sets every chart loading at once, awaited below)
                        with page.expect_response(
                            lambda r, filtered=time_range: _is_chart_query(r, filtered)
                        ):
                            page.locator('[data-test="filter-bar__apply-button"]').click()
                    name = f"{slug} ({time_range})"
                    _await_dashboard(page, title, name, shots / f"{slug}-failed.png")
                    charts = [(s, b, r) for s, b, r in responses if "slice_id" in b["form_data"]]
                    assert charts, f"{name}: no chart queried"
                    for status, body, result in charts:
                        chart = f"{name} chart {body['form_data']['slice_id']}"
                        assert status == 200, f"{chart}: HTTP {status} {result}"
                        assert all(q["status"] == "success" for q in result["result"]), chart
                        dated = body["form_data"].get("extra_form_data", {}).get("time_range")
                        assert dated in (None, time_range), f"{chart}: time range {dated}"
                    assert any(
                        b["form_data"].get("extra_form_data", {}).get("time_range") == time_range
                        for _, b, _ in charts
                    ), f"{name}: the date filter did not reach the charts"
                    # tables of rows (the Configuration history among them): in the order
                    # their chart names
                    tables = [b for _, b, _ in charts if b["form_data"].get("query_mode") == "raw"]
                    for body in tables:
                        ordering = body["form_data"].get("order_by_cols", [])
                        assert ordering, f"{name}: a table of rows in no order"
                        (query,) = body["queries"]
                        assert query["orderby"] == [json.loads(o) for o in ordering], name
                    if slug == "configuration" and time_range == "Last 30 days":  # undated
                        assert any("diff" in b["form_data"]["all_columns"] for b in tables), name
                    body_text = page.locator("body").inner_text()
                    for marker in ("Data error", "An error occurred", "Unexpected error"):
                        assert marker not in body_text, f"{name}: {marker!r} on the page"
                    file = (
                        shots / f"{slug}{'' if time_range == 'Last 30 days' else '-last-week'}.png"
                    )
                    page.screenshot(path=str(file), full_page=True)
                report_line(request.config, f"browser {slug}: {time.monotonic() - started:.1f}s")
        finally:
            browser.close()
    # Superset sends nothing out: the Scarf pixel compiled into its frontend (or anything else
    # for another host) is refused by the content-security policy before it is sent
    sent = {url: why for url, why in outside.items() if why != "csp"}
    assert not sent, f"requests for other hosts: {sent}"
    report_line(request.config, f"browser: {len(outside)} request(s) for other hosts, all refused")


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

    charts = _charts(superset, _dashboards(superset)["usage-metrics"]["id"])
    chart = next(c for c in charts if c["slice_name"] == "Impressions")
    result = _run_chart(superset, chart["id"])
    assert result["data"] == [{"total_impressions": before + rows[0]}]
