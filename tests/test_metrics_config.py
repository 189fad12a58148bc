"""The configuration document (contract section 2): real YAML/JSON files through `load_config`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.metrics_config import ConfigError, MetricsConfig, load_config, parse_config

# The contract's example, and a second dashboard with businessHours, ServisBOT's `labels` (kept,
# unused) and additionalUsageMetrics.
REALISTIC_YAML = """\
timezone: Europe/Dublin
policies:
  userSession: {expireOnInactivityInMinutes: 15}
  conversation: {maxDurationInMinutes: 720}
impressions: {uniqueWindowHours: 12}
kpiDashboards:
  - alias: retail-kpis
    title: Retail KPIs
    resourceName: ClassicFlow
    resourceType: Bot
    businessHours: {monday: "09-17", tuesday: "09-17"}
    useCases:
      - title: Password reset
        summary: {start: pw_reset_start, success: pw_reset_done, failure: pw_reset_failed}
        metrics:
          - {title: Failure reasons, type: bucket, properties: {goal: pw_reset_failed}}
    additionalUsageMetrics: []
  - alias: banking-kpis
    resourceName: BankBot
    labels: {team: cards}
    businessHours: {sunday: "10-14", friday: 08-24, monday: "00-09"}
    useCases:
      - title: Password reset
        summary: {start: bank_pw_start, success: bank_pw_done, failure: bank_pw_failed}
      - title: Card block
        summary: {start: card_block_start, success: card_blocked, failure: card_block_failed}
        metrics:
          - {title: Reasons, type: bucket, properties: {goal: card_block_reason}}
          - {title: Handovers, type: bucket, properties: {goal: handover}}
    additionalUsageMetrics:
      - title: Escalations
        summary: {start: conversation_start, success: conversation_end, failure: handover}
        metrics:
          - {title: Reasons, type: bucket, properties: {goal: escalation_reason}}
"""

EXPECTED_USE_CASES = [
    {
        "dashboard": "retail-kpis",
        "dashboard_title": "Retail KPIs",
        "bot": "ClassicFlow",
        "use_case": "Password reset",
        "kind": "use_case",
        "start_goal": "pw_reset_start",
        "success_goal": "pw_reset_done",
        "failure_goal": "pw_reset_failed",
    },
    {
        "dashboard": "banking-kpis",
        "dashboard_title": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Password reset",
        "kind": "use_case",
        "start_goal": "bank_pw_start",
        "success_goal": "bank_pw_done",
        "failure_goal": "bank_pw_failed",
    },
    {
        "dashboard": "banking-kpis",
        "dashboard_title": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Card block",
        "kind": "use_case",
        "start_goal": "card_block_start",
        "success_goal": "card_blocked",
        "failure_goal": "card_block_failed",
    },
    {
        "dashboard": "banking-kpis",
        "dashboard_title": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Escalations",
        "kind": "additional_usage_metric",
        "start_goal": "conversation_start",
        "success_goal": "conversation_end",
        "failure_goal": "handover",
    },
]

EXPECTED_BUCKET_METRICS = [
    {
        "dashboard": "retail-kpis",
        "bot": "ClassicFlow",
        "use_case": "Password reset",
        "metric": "Failure reasons",
        "goal": "pw_reset_failed",
    },
    {
        "dashboard": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Card block",
        "metric": "Reasons",
        "goal": "card_block_reason",
    },
    {
        "dashboard": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Card block",
        "metric": "Handovers",
        "goal": "handover",
    },
    {
        "dashboard": "banking-kpis",
        "bot": "BankBot",
        "use_case": "Escalations",
        "metric": "Reasons",
        "goal": "escalation_reason",
    },
]

EXPECTED_BUSINESS_HOURS = [
    {
        "dashboard": "retail-kpis",
        "bot": "ClassicFlow",
        "isodow": 1,
        "start_hour": 9,
        "end_hour": 17,
    },
    {
        "dashboard": "retail-kpis",
        "bot": "ClassicFlow",
        "isodow": 2,
        "start_hour": 9,
        "end_hour": 17,
    },
    {"dashboard": "banking-kpis", "bot": "BankBot", "isodow": 1, "start_hour": 0, "end_hour": 9},
    {"dashboard": "banking-kpis", "bot": "BankBot", "isodow": 5, "start_hour": 8, "end_hour": 24},
    {"dashboard": "banking-kpis", "bot": "BankBot", "isodow": 7, "start_hour": 10, "end_hour": 14},
]


def write(tmp_path: Path, doc: Any, fmt: str = "yaml") -> Path:
    """Write `doc` (YAML text, or an object to serialise) as a real .yaml or .json file."""
    path = tmp_path / f"metrics.{fmt}"
    if isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(doc, default=str), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(params=["yaml", "json"])
def realistic(request: pytest.FixtureRequest, tmp_path: Path) -> MetricsConfig:
    doc: Any = REALISTIC_YAML
    if request.param == "json":
        doc = yaml.safe_load(REALISTIC_YAML)  # the same document, written as a JSON file
    return load_config(write(tmp_path, doc, request.param))


def test_realistic_document_gives_the_dbt_vars(realistic: MetricsConfig) -> None:
    assert realistic.dbt_vars() == {
        "reporting_timezone": "Europe/Dublin",
        "session_inactivity_minutes": 15,
        "conversation_max_minutes": 720,
        "unique_window_hours": 12,
        "kpi_use_cases": EXPECTED_USE_CASES,
        "kpi_bucket_metrics": EXPECTED_BUCKET_METRICS,
        "business_hours": EXPECTED_BUSINESS_HOURS,
    }
    json.dumps(realistic.dbt_vars())  # passed to `dbt build --vars` as JSON


def test_yaml_and_json_documents_hash_alike(tmp_path: Path) -> None:
    yaml_config = load_config(write(tmp_path, REALISTIC_YAML))
    json_config = load_config(write(tmp_path, yaml.safe_load(REALISTIC_YAML), "json"))
    assert yaml_config.content_hash == json_config.content_hash


def test_no_document_and_empty_document_give_defaults(tmp_path: Path) -> None:
    expected = {
        "reporting_timezone": "UTC",
        "session_inactivity_minutes": 10,
        "conversation_max_minutes": 1440,
        "unique_window_hours": 24,
        "kpi_use_cases": [],
        "kpi_bucket_metrics": [],
        "business_hours": [],
    }
    assert load_config(None).dbt_vars() == expected
    assert load_config(write(tmp_path, "")).dbt_vars() == expected
    assert load_config(write(tmp_path, "{}", "json")).dbt_vars() == expected
    assert load_config(write(tmp_path, "kpiDashboards: []\ntimezone:\n")).dbt_vars() == expected


def test_null_values_count_as_absent(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
kpiDashboards:
  - alias: d
    title:
    resourceName: Bot
    labels:
    businessHours: {monday: "09-17", sunday: }
    useCases:
      - {title: U, summary: {start: s, success: ok, failure: ko}, metrics: }
    additionalUsageMetrics:
""",
        )
    )
    assert config.dbt_vars()["kpi_use_cases"] == [
        {
            "dashboard": "d",
            "dashboard_title": "d",
            "bot": "Bot",
            "use_case": "U",
            "kind": "use_case",
            "start_goal": "s",
            "success_goal": "ok",
            "failure_goal": "ko",
        }
    ]
    assert config.dbt_vars()["kpi_bucket_metrics"] == []
    assert config.dbt_vars()["business_hours"] == [
        {"dashboard": "d", "bot": "Bot", "isodow": 1, "start_hour": 9, "end_hour": 17}
    ]


def test_content_hash_follows_the_kpi_configuration(tmp_path: Path) -> None:
    base = load_config(write(tmp_path, REALISTIC_YAML)).content_hash
    changed = REALISTIC_YAML.replace("goal: escalation_reason", "goal: escalation_why")
    assert load_config(write(tmp_path, changed)).content_hash != base
    assert load_config(write(tmp_path, REALISTIC_YAML)).content_hash == base


def test_dbt_vars_are_fresh_copies(realistic: MetricsConfig) -> None:
    realistic.dbt_vars()["kpi_use_cases"][0]["use_case"] = "tampered"
    assert realistic.dbt_vars()["kpi_use_cases"][0]["use_case"] == "Password reset"


def use_case(**overrides: Any) -> dict[str, Any]:
    base = {
        "title": "Password reset",
        "summary": {"start": "pw_start", "success": "pw_done", "failure": "pw_failed"},
        "metrics": [{"title": "Reasons", "type": "bucket", "properties": {"goal": "pw_failed"}}],
    }
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def dashboard(**overrides: Any) -> dict[str, Any]:
    base = {
        "alias": "retail-kpis",
        "title": "Retail KPIs",
        "resourceName": "ClassicFlow",
        "resourceType": "Bot",
        "businessHours": {"monday": "09-17"},
        "useCases": [use_case()],
        "additionalUsageMetrics": [],
    }
    return {key: value for key, value in {**base, **overrides}.items() if value is not ...}


def with_metrics(*metrics: Any) -> dict[str, Any]:
    return dashboard(useCases=[use_case(metrics=list(metrics))])


def with_hours(hours: Any) -> dict[str, Any]:
    return {"kpiDashboards": [dashboard(businessHours=hours)]}


SUMMARY = {"start": "s", "success": "ok", "failure": "ko"}
GOOD_METRIC = {"title": "Reasons", "type": "bucket", "properties": {"goal": "pw_failed"}}
UC = "kpiDashboards[0].useCases[0]"

# (the document, the key path its error message must start with)
REFUSED: list[tuple[Any, str]] = [
    # top level and policies
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"extra": 1}, "extra"),
    ({"policies": 5}, "policies"),
    ({"policies": []}, "policies"),
    ({"policies": "x"}, "policies"),
    ({"policies": {"userSession": 10}}, "policies.userSession"),
    ({"policies": {"userSession": []}}, "policies.userSession"),
    ({"policies": {"conversation": "1440"}}, "policies.conversation"),
    ({"impressions": 24}, "impressions"),
    ({"impressions": [24]}, "impressions"),
    (
        {"policies": {"userSession": {"expireOnInactivityInMinutes": True}}},
        "policies.userSession.expireOnInactivityInMinutes",
    ),
    (
        {"policies": {"conversation": {"maxDurationInMinutes": 0}}},
        "policies.conversation.maxDurationInMinutes",
    ),
    ({"impressions": {"uniqueWindowHours": "24"}}, "impressions.uniqueWindowHours"),
    # dashboards
    ({"kpiDashboards": {"alias": "x"}}, "kpiDashboards"),
    ({"kpiDashboards": "retail-kpis"}, "kpiDashboards"),
    ({"kpiDashboards": ["retail-kpis"]}, "kpiDashboards[0]"),
    ({"kpiDashboards": [dashboard(), None]}, "kpiDashboards[1]"),
    ({"kpiDashboards": [dashboard(alias=...)]}, "kpiDashboards[0].alias"),
    ({"kpiDashboards": [dashboard(alias="")]}, "kpiDashboards[0].alias"),
    ({"kpiDashboards": [dashboard(alias="  ")]}, "kpiDashboards[0].alias"),
    ({"kpiDashboards": [dashboard(alias=7)]}, "kpiDashboards[0].alias"),
    ({"kpiDashboards": [dashboard(), dashboard(resourceName="B")]}, "kpiDashboards[1].alias"),
    ({"kpiDashboards": [dashboard(title=5)]}, "kpiDashboards[0].title"),
    ({"kpiDashboards": [dashboard(title="")]}, "kpiDashboards[0].title"),
    ({"kpiDashboards": [dashboard(resourceName=...)]}, "kpiDashboards[0].resourceName"),
    ({"kpiDashboards": [dashboard(resourceName=["B"])]}, "kpiDashboards[0].resourceName"),
    ({"kpiDashboards": [dashboard(resourceType=1)]}, "kpiDashboards[0].resourceType"),
    # use cases
    ({"kpiDashboards": [dashboard(useCases={"title": "x"})]}, "kpiDashboards[0].useCases"),
    ({"kpiDashboards": [dashboard(useCases=["x"])]}, "kpiDashboards[0].useCases[0]"),
    (
        {"kpiDashboards": [dashboard(additionalUsageMetrics=5)]},
        "kpiDashboards[0].additionalUsageMetrics",
    ),
    (
        {"kpiDashboards": [dashboard(additionalUsageMetrics=[[]])]},
        "kpiDashboards[0].additionalUsageMetrics[0]",
    ),
    ({"kpiDashboards": [dashboard(useCases=[use_case(title=...)])]}, f"{UC}.title"),
    ({"kpiDashboards": [dashboard(useCases=[use_case(title=False)])]}, f"{UC}.title"),
    (
        {"kpiDashboards": [dashboard(useCases=[use_case(), use_case()])]},
        "kpiDashboards[0].useCases[1].title",
    ),
    (
        {"kpiDashboards": [dashboard(additionalUsageMetrics=[use_case()])]},
        "kpiDashboards[0].additionalUsageMetrics[0].title",
    ),
    ({"kpiDashboards": [dashboard(useCases=[use_case(summary=...)])]}, f"{UC}.summary"),
    ({"kpiDashboards": [dashboard(useCases=[use_case(summary="pw_start")])]}, f"{UC}.summary"),
    ({"kpiDashboards": [dashboard(useCases=[use_case(summary={})])]}, f"{UC}.summary.failure"),
    (
        {"kpiDashboards": [dashboard(useCases=[use_case(summary={**SUMMARY, "start": ""})])]},
        f"{UC}.summary.start",
    ),
    (
        {"kpiDashboards": [dashboard(useCases=[use_case(summary={**SUMMARY, "start": 3})])]},
        f"{UC}.summary.start",
    ),
    (
        {"kpiDashboards": [dashboard(useCases=[use_case(summary={**SUMMARY, "success": ""})])]},
        f"{UC}.summary.success",
    ),
    (
        {"kpiDashboards": [dashboard(useCases=[use_case(summary={**SUMMARY, "failure": True})])]},
        f"{UC}.summary.failure",
    ),
    (
        {
            "kpiDashboards": [
                dashboard(additionalUsageMetrics=[use_case(title="Extra", summary={"end": "x"})])
            ]
        },
        "kpiDashboards[0].additionalUsageMetrics[0].summary.end",
    ),
    (
        {
            "kpiDashboards": [
                dashboard(useCases=[use_case(summary={"success": "a", "failure": "b"})])
            ]
        },
        f"{UC}.summary.start",
    ),
    # bucket metrics
    ({"kpiDashboards": [dashboard(useCases=[use_case(metrics=GOOD_METRIC)])]}, f"{UC}.metrics"),
    ({"kpiDashboards": [with_metrics("Reasons")]}, f"{UC}.metrics[0]"),
    ({"kpiDashboards": [with_metrics({**GOOD_METRIC, "title": ""})]}, f"{UC}.metrics[0].title"),
    (
        {"kpiDashboards": [with_metrics(GOOD_METRIC, GOOD_METRIC)]},
        f"{UC}.metrics[1].title",
    ),
    (
        {"kpiDashboards": [with_metrics({"title": "R", "properties": {"goal": "g"}})]},
        f"{UC}.metrics[0].type",
    ),
    ({"kpiDashboards": [with_metrics({**GOOD_METRIC, "type": "rate"})]}, f"{UC}.metrics[0].type"),
    (
        {"kpiDashboards": [with_metrics({**GOOD_METRIC, "type": "Bucket"})]},
        f"{UC}.metrics[0].type",
    ),
    (
        {"kpiDashboards": [with_metrics({"title": "R", "type": "bucket"})]},
        f"{UC}.metrics[0].properties",
    ),
    (
        {"kpiDashboards": [with_metrics({**GOOD_METRIC, "properties": "pw_failed"})]},
        f"{UC}.metrics[0].properties",
    ),
    (
        {"kpiDashboards": [with_metrics({**GOOD_METRIC, "properties": {}})]},
        f"{UC}.metrics[0].properties.goal",
    ),
    (
        {"kpiDashboards": [with_metrics({**GOOD_METRIC, "properties": {"goal": 12}})]},
        f"{UC}.metrics[0].properties.goal",
    ),
    (
        {
            "kpiDashboards": [
                dashboard(),
                dashboard(
                    alias="other",
                    additionalUsageMetrics=[
                        use_case(title="Extra", metrics=[{**GOOD_METRIC, "type": "count"}])
                    ],
                ),
            ]
        },
        "kpiDashboards[1].additionalUsageMetrics[0].metrics[0].type",
    ),
    # business hours
    (with_hours("09-17"), "kpiDashboards[0].businessHours"),
    (with_hours(["09-17"]), "kpiDashboards[0].businessHours"),
    (with_hours({"Monday": "09-17"}), "kpiDashboards[0].businessHours.Monday"),
    (with_hours({"mon": "09-17"}), "kpiDashboards[0].businessHours.mon"),
    (with_hours({"monday": "09-17", "weekend": "10-12"}), "kpiDashboards[0].businessHours.weekend"),
    (with_hours({"monday": "17-09"}), "kpiDashboards[0].businessHours.monday"),
    (with_hours({"monday": "09-09"}), "kpiDashboards[0].businessHours.monday"),
    (with_hours({"tuesday": "09-25"}), "kpiDashboards[0].businessHours.tuesday"),
    (with_hours({"tuesday": "9-17"}), "kpiDashboards[0].businessHours.tuesday"),
    (with_hours({"tuesday": "09:00-17:00"}), "kpiDashboards[0].businessHours.tuesday"),
    (with_hours({"friday": 9}), "kpiDashboards[0].businessHours.friday"),
    (with_hours({"friday": True}), "kpiDashboards[0].businessHours.friday"),
    (with_hours({"sunday": ""}), "kpiDashboards[0].businessHours.sunday"),
]


@pytest.mark.parametrize(
    ("doc", "key_path"), REFUSED, ids=[f"{p}#{i}" for i, (_, p) in enumerate(REFUSED)]
)
def test_invalid_document_is_refused_naming_the_key(
    tmp_path: Path, doc: Any, key_path: str
) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{key_path}: "), str(refused.value)


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ('{"kpiDashboards": [{"alias": "d", "resourceName": "B", "useCases": [{}]}]}',
         "kpiDashboards[0].useCases[0].summary"),
        ('{"kpiDashboards": [{"alias": "d", "resourceName": "B", "businessHours": {"mon": "9"}}]}',
         "kpiDashboards[0].businessHours.mon"),
        ('{"policies": {"userSession": {"expireOnInactivityInMinutes": 10}, "conversation": 5}}',
         "policies.conversation"),
    ],
)  # fmt: skip
def test_invalid_json_document_is_refused_naming_the_key(
    tmp_path: Path, text: str, key_path: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(key_path)}: "):
        load_config(write(tmp_path, text, "json"))


def test_an_unknown_timezone_is_reported_with_the_schemas_problems() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"timezone": "Mars/Olympus", "impressions": {"uniqueWindowHours": "24"}})
    assert refused.value.errors == [
        "impressions.uniqueWindowHours: must be a positive integer, got '24'",
        "timezone: unknown IANA timezone 'Mars/Olympus'",
    ]
    with pytest.raises(ConfigError) as refused:  # a bare dashboard has no timezone key
        parse_config({**dashboard(), "timezone": "Mars/Olympus"})
    assert [e.split(":")[0] for e in refused.value.errors] == ["timezone"]


def test_the_valid_base_of_the_refusal_cases_is_accepted(tmp_path: Path) -> None:
    doc = {
        "kpiDashboards": [
            dashboard(),
            dashboard(alias="other", useCases=[use_case(), use_case(title="Second")]),
        ]
    }
    config = load_config(write(tmp_path, doc))
    assert [row["use_case"] for row in config.dbt_vars()["kpi_use_cases"]] == [
        "Password reset",
        "Password reset",
        "Second",
    ]
    assert len(config.dbt_vars()["kpi_bucket_metrics"]) == 3


def test_a_document_must_be_utf8_and_may_start_with_a_byte_order_mark(tmp_path: Path):
    """Saved by an editor as UTF-16, a document is refused with a reason, not a traceback; a
    UTF-8 byte-order mark (some Windows editors write one) is read past, in JSON as in YAML."""
    utf16 = tmp_path / "metrics.yaml"
    utf16.write_text("timezone: Europe/Dublin\n", encoding="utf-16")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(utf16)
    for suffix, text in (
        ("json", '{"timezone": "Europe/Dublin"}'),
        ("yaml", "timezone: Europe/Dublin"),
    ):
        marked = tmp_path / f"marked.{suffix}"
        marked.write_text(text, encoding="utf-8-sig")
        assert load_config(marked).document["timezone"] == "Europe/Dublin"


def test_a_key_given_twice_is_refused_with_its_lines(tmp_path: Path) -> None:
    """A setting edited at the top of a file and again below: the last value would win
    silently, so the document is refused, naming the key (and in YAML both lines). Anchors
    merged with `<<` are not repeats."""
    yaml_doc = tmp_path / "twice.yaml"
    yaml_doc.write_text(
        "policies:\n  userSession:\n    expireOnInactivityInMinutes: 10\n"
        "  userSession:\n    expireOnInactivityInMinutes: 30\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_config(yaml_doc)
    assert refused.value.errors == ["not valid YAML: key 'userSession' given twice (lines 2 and 4)"]
    json_doc = tmp_path / "twice.json"
    json_doc.write_text('{"timezone": "UTC", "timezone": "Europe/Dublin"}')
    with pytest.raises(ConfigError) as refused:
        load_config(json_doc)
    assert refused.value.errors == ["not valid JSON: key 'timezone' given twice in one object"]
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        "x-hours: &hours {monday: 09-17}\n"
        "kpiDashboards:\n"
        "  - {alias: a, resourceName: bot-a, useCases: [], businessHours: {<<: *hours}}\n"
    )
    with pytest.raises(ConfigError) as refused:  # x-hours is not a key of the schema ...
        load_config(merged)
    assert all("given twice" not in e for e in refused.value.errors)  # ... and not a repeat
