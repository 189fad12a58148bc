"""The configuration document's JSON Schema, `config validate` / `config show`, the history's
diffs and launchpad edits: real files, the real CLI, no Dagster run (see test_config_apply.py)."""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from jsonschema import Draft202012Validator

from orchestration.config_edit import ConfigurationEdit, edited
from orchestration.config_history import (
    diff_documents,
    record_version,
)
from orchestration.metrics_config import ConfigError, load_config, parse_config, schema
from orchestration.state import PublishStamp, WarehousePaths, read_config_versions
from tests.conftest import DEMO_CONFIG, REPO, SBM

FIXTURES = Path(__file__).parent / "fixtures"
SERVISBOT_DASHBOARD = FIXTURES / "servisbot-kpi-dashboard.json"


def servisbot_dashboard() -> dict[str, Any]:
    return json.loads(SERVISBOT_DASHBOARD.read_text())


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SBM, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_schema_is_a_valid_json_schema_and_the_demo_document_follows_it() -> None:
    Draft202012Validator.check_schema(schema())
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    assert list(Draft202012Validator(schema()).iter_errors(demo)) == []
    assert "$schema=metrics-config.schema.json" in DEMO_CONFIG.read_text().splitlines()[0]


def test_a_servisbot_dashboard_json_is_accepted_unchanged(tmp_path: Path) -> None:
    """As exported (labels and all), as the whole file or pasted into kpiDashboards."""
    whole = load_config(SERVISBOT_DASHBOARD)
    pasted = tmp_path / "metrics.json"
    pasted.write_text(json.dumps({"timezone": "UTC", "kpiDashboards": [servisbot_dashboard()]}))
    assert load_config(pasted).dbt_vars() == whole.dbt_vars()
    assert [(r["use_case"], r["kind"]) for r in whole.kpi_use_cases] == [
        ("Password reset", "use_case"),
        ("Order status", "use_case"),
        ("Conversations engaged", "use_case"),
        ("Handovers", "additional_usage_metric"),
    ]
    assert whole.kpi_use_cases[0] == {
        "dashboard": "support-kpis",
        "dashboard_title": "Customer support KPIs",
        "bot": "ClassicFlow",
        "use_case": "Password reset",
        "kind": "use_case",
        "start_goal": "pw_reset_start",
        "success_goal": "pw_reset_done",
        "failure_goal": "pw_reset_failed",
    }
    assert [m["metric"] for m in whole.kpi_bucket_metrics] == ["Failure reasons", "Handover count"]
    assert [(h["isodow"], h["start_hour"], h["end_hour"]) for h in whole.business_hours] == [
        (1, 9, 17), (2, 9, 17), (3, 9, 17), (4, 9, 17), (5, 9, 17), (6, 10, 14), (7, 10, 14)
    ]  # fmt: skip
    assert whole.document["kpiDashboards"][0]["labels"] == {}  # kept


def _refusal(doc: Any) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(doc)
    return refused.value.errors


def test_a_broken_dashboard_is_refused_with_every_problem_named() -> None:
    doc = {"kpiDashboards": [servisbot_dashboard()]}
    dashboard = doc["kpiDashboards"][0]
    del dashboard["useCases"][2]["summary"]["success"]
    dashboard["useCases"][0]["sumary"] = dashboard["useCases"][0].pop("summary")
    dashboard["useCases"][1]["metrics"] = [{"title": "Why", "type": "pie", "properties": {}}]
    dashboard["businessHours"]["friday"] = "9-17"
    dashboard["colour"] = "blue"
    doc["policies"] = {"userSession": {"expireOnInactivityInMinutes": "10"}}
    assert _refusal(doc) == [
        'kpiDashboards[0].businessHours.friday: must be "HH-HH" with 0 <= start < end <= 24 '
        "(e.g. \"09-17\"), got '9-17'",
        "kpiDashboards[0].colour: unknown key (expected one of alias, title, resourceName, "
        "resourceType, labels, businessHours, useCases, additionalUsageMetrics)",
        "kpiDashboards[0].useCases[0].sumary: unknown key (expected one of title, summary, "
        "metrics)",
        "kpiDashboards[0].useCases[0].summary: required",
        "kpiDashboards[0].useCases[1].metrics[0].properties.goal: required",
        "kpiDashboards[0].useCases[1].metrics[0].type: must be 'bucket' (the only supported "
        "metric type), got 'pie'",
        "kpiDashboards[0].useCases[2].summary.success: required",
        "policies.userSession.expireOnInactivityInMinutes: must be a positive integer, got '10'",
    ]
    # the exception's own message is the first problem and how many more there are
    with pytest.raises(
        ConfigError, match=r"^kpiDashboards\[0\]\.businessHours\.friday: .*\(and 7 more\)$"
    ):
        parse_config(doc)


def test_a_bare_dashboard_is_refused_with_paths_in_that_file() -> None:
    dashboard = servisbot_dashboard()
    del dashboard["resourceName"]
    dashboard["useCases"].append(copy.deepcopy(dashboard["useCases"][0]))
    assert _refusal(dashboard) == ["resourceName: required"]
    dashboard["resourceName"] = "ClassicFlow"
    assert _refusal(dashboard) == [
        "useCases[3].title: duplicate use case title in this dashboard 'Password reset'"
    ]


def test_rules_a_schema_cannot_express_are_checked_after_it() -> None:
    first, second = servisbot_dashboard(), servisbot_dashboard()
    second["businessHours"]["monday"] = "17-09"
    assert _refusal({"timezone": "Mars/Olympus", "kpiDashboards": [first, second]}) == [
        "timezone: unknown IANA timezone 'Mars/Olympus'",
        "kpiDashboards[1].alias: duplicate dashboard alias 'support-kpis'",
        'kpiDashboards[1].businessHours.monday: must be "HH-HH" with 0 <= start < end <= 24 '
        "(e.g. \"09-17\"), got '17-09'",
    ]


def test_config_validate_prints_a_summary_or_every_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    doc = {"kpiDashboards": [servisbot_dashboard()], "impressions": {"uniqueWindowHour": 12}}
    del doc["kpiDashboards"][0]["useCases"][2]["summary"]["success"]
    broken.write_text(yaml.safe_dump(doc))
    good = cli("config", "validate", DEMO_CONFIG, SERVISBOT_DASHBOARD)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[0].startswith(
        f"{DEMO_CONFIG}: valid: 3 KPI dashboard(s), 7 use case(s); sessions expire after 10 min"
    )
    bad = cli("config", "validate", DEMO_CONFIG, broken)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        f"{broken}: impressions.uniqueWindowHour: unknown key (expected one of uniqueWindowHours)",
        f"{broken}: kpiDashboards[0].useCases[2].summary.success: required",
    ]
    missing = cli("config", "validate", tmp_path / "nope.yaml")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"{tmp_path / 'nope.yaml'}: cannot read the configuration: No such file or directory\n"
    )
    assert cli("config", "validate").returncode == 2  # usage error


def test_config_show_fills_in_the_defaults(tmp_path: Path) -> None:
    shown = cli("config", "show", SERVISBOT_DASHBOARD)
    assert shown.returncode == 0, shown.stderr
    document = yaml.safe_load(shown.stdout)
    assert document["policies"] == {
        "userSession": {"expireOnInactivityInMinutes": 10},
        "conversation": {"maxDurationInMinutes": 1440},
    }
    assert document["impressions"] == {"uniqueWindowHours": 24}
    assert document["kpiDashboards"][0]["useCases"][1]["metrics"] == []
    # what it prints is itself a valid document with the same meaning
    printed = tmp_path / "shown.yaml"
    printed.write_text(shown.stdout)
    assert load_config(printed).content_hash == load_config(SERVISBOT_DASHBOARD).content_hash
    defaults = json.loads(cli("config", "show", "--json").stdout)
    assert defaults["timezone"] == "UTC" and defaults["kpiDashboards"] == []


def test_the_diff_names_dashboards_and_use_cases() -> None:
    old = load_config(DEMO_CONFIG).document
    new = copy.deepcopy(old)
    new["policies"]["userSession"]["expireOnInactivityInMinutes"] = 15
    new["kpiDashboards"][0]["useCases"].insert(
        0, {"title": "Returns", "summary": {}, "metrics": []}
    )
    new["kpiDashboards"][1]["businessHours"]["saturday"] = "10-12"
    del new["kpiDashboards"][2]
    assert diff_documents(old, new) == [
        "~ policies.userSession.expireOnInactivityInMinutes: 10 -> 15",
        '+ kpiDashboards[retail-kpis].useCases[Returns]: {"title": "Returns", "summary": {}, '
        '"metrics": []}',
        '+ kpiDashboards[helpdesk-kpis].businessHours.saturday: "10-12"',
        "- kpiDashboards[lending-kpis]",
    ]
    assert diff_documents(old, copy.deepcopy(old)) == []


def test_a_launchpad_edit_changes_only_what_it_names() -> None:
    current = load_config(DEMO_CONFIG)
    new_use_case = {
        "title": "Returns",
        "summary": {"start": "return_start", "success": "return_done", "failure": "return_failed"},
    }
    edit = ConfigurationEdit(
        policies={"userSession": {"expireOnInactivityInMinutes": 15}},
        kpiDashboards=[{"alias": "retail-kpis", "useCases": [new_use_case]}],
        remove=[
            "kpiDashboards[lending-kpis]",
            "kpiDashboards[helpdesk-kpis].useCases[Product return]",
        ],
    )
    result = edited(current, edit)
    assert diff_documents(current.document, result.document) == [
        "~ policies.userSession.expireOnInactivityInMinutes: 10 -> 15",
        '+ kpiDashboards[retail-kpis].useCases[Returns]: {"title": "Returns", "summary": '
        '{"start": "return_start", "success": "return_done", "failure": "return_failed"}, '
        '"metrics": []}',
        "- kpiDashboards[helpdesk-kpis].useCases[Product return]",
        "- kpiDashboards[lending-kpis]",
    ]
    # a whole pasted document replaces the configuration, then the fields apply on top
    pasted = edited(
        current,
        ConfigurationEdit(document=SERVISBOT_DASHBOARD.read_text(), timezone="Europe/Dublin"),
    )
    assert [d["alias"] for d in pasted.document["kpiDashboards"]] == ["support-kpis"]
    assert pasted.timezone == "Europe/Dublin"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"kpiDashboards": [{"alias": "new-kpis", "useCases": []}]},
            "kpiDashboards[3].resourceName: required",
        ),
        ({"timezone": "Europe/Dublinn"}, "timezone: unknown IANA timezone 'Europe/Dublinn'"),
        ({"remove": ["kpiDashboards[nope]"]}, "remove: no dashboard with alias 'nope'"),
        ({"remove": ["useCases[x]"]}, "remove: 'useCases[x]' is not kpiDashboards[alias] or"),
        ({"document": "kpiDashboards: [{alias: x"}, "document: not valid YAML or JSON"),
        (
            {"document": '{"timezone": "UTC", "timezone": "Europe/Dublin"}'},
            "document: not valid YAML or JSON: key 'timezone' given twice (lines 1 and 1)",
        ),
    ],
)
def test_an_invalid_launchpad_edit_is_refused_naming_the_key(edit: dict, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        edited(load_config(DEMO_CONFIG), ConfigurationEdit(**edit))
    assert refused.value.errors[0].startswith(message), refused.value.errors


def test_numbers_are_whole_bounded_and_timezones_are_ones_duckdb_knows() -> None:
    config = parse_config({"policies": {"userSession": {"expireOnInactivityInMinutes": 15.0}}})
    assert config.document["policies"]["userSession"] == {"expireOnInactivityInMinutes": 15}
    assert (
        config.content_hash
        == parse_config(
            {"policies": {"userSession": {"expireOnInactivityInMinutes": 15}}}
        ).content_hash
    )  # 15.0 and 15 are the same configuration
    assert _refusal({"impressions": {"uniqueWindowHours": 10**30}}) == [
        f"impressions.uniqueWindowHours: must be at most 8760, got {10**30}"
    ]
    for name in ("localtime", "posixrules", "right/UTC"):
        assert _refusal({"timezone": name}) == [f"timezone: unknown IANA timezone {name!r}"]


def test_problems_are_listed_in_document_order_of_list_indexes() -> None:
    dashboards = [{"alias": f"d{i}", "resourceName": "B"} for i in range(11)]
    dashboards[2]["title"] = dashboards[10]["title"] = ""
    assert [p.split(":")[0] for p in _refusal({"kpiDashboards": dashboards})] == [
        "kpiDashboards[2].title",
        "kpiDashboards[10].title",
    ]


def test_a_history_line_torn_by_a_crash_is_not_a_version(tmp_path: Path) -> None:
    paths = WarehousePaths.for_warehouse(tmp_path / "wh.duckdb")
    first = record_version(paths, load_config(None), "run-1", "(defaults)")
    with paths.config_versions.open("a") as history:
        history.write('{"version": 2, "applied_at": "2026-11-')  # the process died here
    assert read_config_versions(paths) == first


def _schema_defaults(node: dict[str, Any], path: str = "") -> dict[str, Any]:
    """{key path: default} of every key of the document that has one in the schema."""
    found = {path: node["default"]} if "default" in node else {}
    for key, child in node.get("properties", {}).items():
        found |= _schema_defaults(child, f"{path}.{key}" if path else key)
    return found


def test_a_default_is_written_once_in_the_schema_and_read_from_there() -> None:
    defaults = _schema_defaults(schema())
    assert set(defaults) == {
        "timezone",
        "policies.userSession.expireOnInactivityInMinutes",
        "policies.conversation.maxDurationInMinutes",
        "impressions.uniqueWindowHours",
    }
    effective = load_config(None).document
    launchpad = json.dumps(ConfigurationEdit.model_json_schema())
    for path, value in defaults.items():
        node: Any = effective
        for key in path.split("."):
            node = node[key]
        assert node == value, path
        assert f"default {value})." in launchpad, f"the launchpad does not show {path}'s default"
    dashboard = schema()["$defs"]["kpiDashboard"]["properties"]
    shown = parse_config({"alias": "d", "resourceName": "B"}).document["kpiDashboards"][0]
    assert shown["resourceType"] == dashboard["resourceType"]["default"]
    # dbt has no copy: the pipeline (or `config show --dbt-vars`) passes every configuration var
    project = yaml.safe_load((REPO / "dbt_project/dbt_project.yml").read_text())
    assert not set(project["vars"]) & set(load_config(None).dbt_vars())


def test_the_launchpad_shows_the_schemas_bounds_and_the_document_check_applies_them() -> None:
    """The bounds are shown on the launchpad's fields, from the schema; a value out of them
    reaches the document check, which refuses it with its key path (as pydantic bounds on the
    fields would not: they fail the step with a traceback, test_config_apply.py)."""
    fields = ConfigurationEdit.model_json_schema()["$defs"]
    timeout = fields["UserSessionPolicy"]["properties"]["expireOnInactivityInMinutes"]
    assert timeout["description"].endswith("(min 1, max 10080, default 10).")
    edit = ConfigurationEdit(policies={"userSession": {"expireOnInactivityInMinutes": 10081}})
    with pytest.raises(ConfigError, match="expireOnInactivityInMinutes: "):
        edited(load_config(None), edit)


def test_config_show_dbt_vars_gives_dbt_what_the_pipeline_passes(tmp_path: Path) -> None:
    missing = cli("config", "show", "--warehouse", tmp_path / "nope.duckdb")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"servisbot-metrics: error: warehouse not found: {tmp_path / 'nope.duckdb'}\n"
    )
    shown = cli("config", "show", DEMO_CONFIG, "--dbt-vars")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == load_config(DEMO_CONFIG).dbt_vars()
    assert json.loads(cli("config", "show", "--dbt-vars").stdout) == load_config(None).dbt_vars()
    # a published warehouse: the configuration it was built with, and its state folder
    paths = WarehousePaths.for_warehouse(tmp_path / "wh.duckdb")
    config = load_config(DEMO_CONFIG)
    record_version(paths, config, "run-1", str(DEMO_CONFIG))
    stamp = {f.name: "" for f in fields(PublishStamp)} | {"config_hash": config.content_hash}
    with duckdb.connect(str(paths.warehouse)) as warehouse:
        warehouse.execute("CREATE SCHEMA marts")
        warehouse.execute("CREATE TABLE marts.publish_info (key VARCHAR, value VARCHAR)")
        warehouse.executemany("INSERT INTO marts.publish_info VALUES (?, ?)", stamp.items())
    shown = cli("config", "show", "--warehouse", paths.warehouse, "--dbt-vars")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"state_dir": str(paths.state), **config.dbt_vars()}
