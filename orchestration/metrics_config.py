"""The metrics configuration document (section 2 of the contract): loading and checking.

The document is JSON or YAML; every key is optional and a null value counts as absent. Its JSON
Schema ships in ``config/metrics-config.schema.json`` (editors autocomplete from it) and is what
refuses a document: every problem is reported with the key path and the reason, for example
``kpiDashboards[0].useCases[2].summary.success: required``. Unknown keys are errors. A ServisBOT
KPI dashboard JSON is accepted as exported, either in ``kpiDashboards`` or as the whole file.
What a schema cannot say (a real timezone, unique names, hours in order) is checked after it;
the timezone also when the schema refuses the rest, so that one pass reports both.
The schema is also the one home of the defaults (its `default`s): `effective_document` fills
them in from there, and `config show --dbt-vars` gives them to a dbt run outside the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml
from jsonschema import Draft202012Validator, ValidationError

from orchestration.settings import CONFIG_SCHEMA_PATH

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
USE_CASE_LISTS = (("useCases", "use_case"), ("additionalUsageMetrics", "additional_usage_metric"))
# a document that is one ServisBOT dashboard rather than a configuration
DASHBOARD_KEYS = {"alias", "resourceName", "useCases"}
_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
}

Rows = tuple[dict[str, Any], ...]


class ConfigError(ValueError):
    """The configuration document is invalid; each of `errors` names its key path."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(errors[0] + more)


@dataclass(frozen=True)
class MetricsConfig:
    document: dict[str, Any]  # the effective document: defaults filled in
    timezone: str
    session_inactivity_minutes: int
    conversation_max_minutes: int
    unique_window_hours: int
    kpi_use_cases: Rows = ()
    kpi_bucket_metrics: Rows = ()
    business_hours: Rows = ()

    @property
    def content_hash(self) -> str:
        """Identifies what the marts depend on: keys the metrics do not use do not change it."""
        return vars_hash(self.dbt_vars())

    def dbt_vars(self) -> dict[str, Any]:
        return {
            "reporting_timezone": self.timezone,
            "session_inactivity_minutes": self.session_inactivity_minutes,
            "conversation_max_minutes": self.conversation_max_minutes,
            "unique_window_hours": self.unique_window_hours,
            "kpi_use_cases": [dict(row) for row in self.kpi_use_cases],
            "kpi_bucket_metrics": [dict(row) for row in self.kpi_bucket_metrics],
            "business_hours": [dict(row) for row in self.business_hours],
        }


def vars_hash(dbt_vars: dict[str, Any]) -> str:
    """The hash of a configuration's dbt vars (MetricsConfig.content_hash)."""
    return hashlib.sha256(json.dumps(dbt_vars, sort_keys=True).encode()).hexdigest()[:16]


@cache
def _timezones() -> set[str]:
    """The timezone names DuckDB knows (Python's zoneinfo also takes `localtime`, `posixrules`
    or `right/UTC`, on which the build would fail)."""
    return {name for (name,) in duckdb.sql("SELECT name FROM pg_timezone_names()").fetchall()}


@cache
def schema() -> dict[str, Any]:
    return json.loads(CONFIG_SCHEMA_PATH.read_text(encoding="utf-8"))


def setting(path: str, definition: str | None = None) -> dict[str, Any]:
    """The schema of one key, e.g. `policies.userSession.expireOnInactivityInMinutes` (of the
    whole document, or of a `$defs` definition), with the `$ref` it extends merged in."""
    node = schema() if definition is None else schema()["$defs"][definition]
    for key in path.split("."):
        node = node["properties"][key]
    if "$ref" in node:
        node = {**schema()["$defs"][node["$ref"].rsplit("/", 1)[1]], **node}
        del node["$ref"]
    return node


def default(path: str, definition: str | None = None) -> Any:
    """The schema's default of a key: the one place a default is written."""
    return setting(path, definition)["default"]


@cache
def _validator(definition: str | None) -> Draft202012Validator:
    """The whole document's validator, or one of the schema's `$defs` (a bare dashboard)."""
    root = schema()
    if definition is None:
        return Draft202012Validator(root)
    return Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]})


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "(document)"


def _key(error: ValidationError, key: str) -> str:
    return _path([*error.absolute_path, key])


def _got(value: Any) -> str:
    if value is None:
        return "got null"
    if isinstance(value, dict | list):
        return f"got {'an object' if isinstance(value, dict) else 'a list'}"
    return f"got {value!r}"


def _messages(error: ValidationError) -> list[str]:
    """One line per problem: `key.path: why`."""
    where, schema_node, value = _path(error.absolute_path), error.schema, error.instance
    if error.validator == "required":
        return [f"{_key(error, k)}: required" for k in error.validator_value if k not in value]
    if error.validator == "additionalProperties":
        known = ", ".join(k for k in schema_node.get("properties", {}) if k != "$schema")
        return [
            f"{_key(error, k)}: unknown key (expected one of {known})"
            for k in value
            if k not in schema_node.get("properties", {})
        ]
    if error.validator == "maximum":
        return [f"{where}: must be at most {error.validator_value}, {_got(value)}"]
    if "x-message" in schema_node:
        return [f"{where}: {schema_node['x-message']}, {_got(value)}"]
    if schema_node.get("type") == "integer" and schema_node.get("minimum") == 1:
        return [f"{where}: must be a positive integer, {_got(value)}"]
    if error.validator == "type":
        return [f"{where}: must be {_TYPE_NAMES.get(error.validator_value)}, {_got(value)}"]
    return [f"{where}: {error.message}"]


def _schema_problems(doc: Any, definition: str | None) -> list[str]:
    problems = {m for error in _validator(definition).iter_errors(doc) for m in _messages(error)}
    return sorted(problems, key=_path_order)


def _path_order(message: str) -> list[tuple[int, int | str]]:
    """Sorts messages by key path, list indexes as numbers ([2] before [10])."""
    path = message.split(": ", 1)[0]
    return [(0, int(i)) if i else (1, k) for i, k in re.findall(r"\[(\d+)\]|([^.\[\]]+)", path)]


def _without_nulls(node: Any) -> Any:
    """A null value counts as an absent key (items of lists are kept, and checked)."""
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(item) for item in node]
    return node


def _hours(span: str) -> tuple[int, int]:
    """The start and end hours of a schema-valid "HH-HH"."""
    start, end = span.split("-")
    return int(start), int(end)


def _repeat(seen: set[str], name: str, path: str, what: str) -> list[str]:
    """`path: duplicate <what> 'name'` when `name` was seen before; `name` is then seen."""
    repeated = name in seen
    seen.add(name)
    return [f"{path}: duplicate {what} {name!r}"] if repeated else []


def _timezone_problems(doc: Any) -> list[str]:
    """The timezone exists: checked even when the rest of the document breaks the schema (a
    timezone that is not a string is the schema's to report)."""
    timezone = doc.get("timezone", default("timezone")) if isinstance(doc, dict) else None
    if isinstance(timezone, str) and timezone not in _timezones():
        return [f"timezone: unknown IANA timezone {timezone!r}"]
    return []


def _rule_problems(doc: dict[str, Any], prefix: str | None) -> list[str]:
    """What the schema cannot check: the timezone exists, names are unique, hours in order."""
    problems = _timezone_problems(doc)
    hours_rule = schema()["$defs"]["hours"]["x-message"]
    aliases: set[str] = set()
    for index, dashboard in enumerate(doc.get("kpiDashboards", [])):
        where = f"kpiDashboards[{index}]" if prefix is None else prefix
        dot = "." if where else ""
        problems += _repeat(aliases, dashboard["alias"], f"{where}{dot}alias", "dashboard alias")
        for day, span in dashboard.get("businessHours", {}).items():
            start, end = _hours(span)
            if start >= end:
                problems.append(f"{where}{dot}businessHours.{day}: {hours_rule}, {_got(span)}")
        titles: set[str] = set()
        for list_key, _ in USE_CASE_LISTS:
            for i, use_case in enumerate(dashboard.get(list_key, [])):
                uc_where = f"{where}{dot}{list_key}[{i}]"
                problems += _repeat(
                    titles,
                    use_case["title"],
                    f"{uc_where}.title",
                    "use case title in this dashboard",
                )
                metric_titles: set[str] = set()
                for m, metric in enumerate(use_case.get("metrics", [])):
                    problems += _repeat(
                        metric_titles,
                        metric["title"],
                        f"{uc_where}.metrics[{m}].title",
                        "metric title",
                    )
    return problems


def _effective_dashboard(dashboard: dict[str, Any]) -> dict[str, Any]:
    use_cases = {
        key: [{**uc, "metrics": uc.get("metrics", [])} for uc in dashboard.get(key, [])]
        for key, _ in USE_CASE_LISTS
    }
    return {
        "alias": dashboard["alias"],
        "title": dashboard.get("title", dashboard["alias"]),
        "resourceName": dashboard["resourceName"],
        "resourceType": dashboard.get(
            "resourceType", default("resourceType", definition="kpiDashboard")
        ),
        **({"labels": dashboard["labels"]} if "labels" in dashboard else {}),
        "businessHours": dashboard.get("businessHours", {}),
        **use_cases,
    }


def effective_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A valid document with every default (the schema's) filled in (what `config show` prints)."""

    def value(path: str) -> Any:
        *parents, key = path.split(".")
        node = doc
        for parent in parents:
            node = node.get(parent, {})
        return node.get(key, default(path))

    def integer(path: str) -> int:
        return int(value(path))  # JSON Schema's integers include 10.0: the document says 10

    return {
        "timezone": value("timezone"),
        "policies": {
            "userSession": {
                "expireOnInactivityInMinutes": integer(
                    "policies.userSession.expireOnInactivityInMinutes"
                )
            },
            "conversation": {
                "maxDurationInMinutes": integer("policies.conversation.maxDurationInMinutes")
            },
        },
        "impressions": {"uniqueWindowHours": integer("impressions.uniqueWindowHours")},
        "kpiDashboards": [_effective_dashboard(d) for d in doc.get("kpiDashboards", [])],
    }


def _dbt_rows(document: dict[str, Any]) -> tuple[Rows, Rows, Rows]:
    """`kpiDashboards` as the dbt vars kpi_use_cases, kpi_bucket_metrics, business_hours."""
    use_cases, metrics, hours = [], [], []
    for dashboard in document["kpiDashboards"]:
        owner = {"dashboard": dashboard["alias"], "bot": dashboard["resourceName"]}
        for day in sorted(dashboard["businessHours"], key=WEEKDAYS.index):
            start, end = _hours(dashboard["businessHours"][day])
            isodow = WEEKDAYS.index(day) + 1
            hours.append({**owner, "isodow": isodow, "start_hour": start, "end_hour": end})
        for list_key, kind in USE_CASE_LISTS:
            for use_case in dashboard[list_key]:
                summary = use_case["summary"]
                use_cases.append(
                    {
                        "dashboard": dashboard["alias"],
                        "dashboard_title": dashboard["title"],
                        "bot": dashboard["resourceName"],
                        "use_case": use_case["title"],
                        "kind": kind,
                        "start_goal": summary["start"],
                        "success_goal": summary["success"],
                        "failure_goal": summary["failure"],
                    }
                )
                metrics += [
                    {
                        **owner,
                        "use_case": use_case["title"],
                        "metric": metric["title"],
                        "goal": metric["properties"]["goal"],
                    }
                    for metric in use_case["metrics"]
                ]
    return tuple(use_cases), tuple(metrics), tuple(hours)


def parse_config(doc: Any) -> MetricsConfig:
    """The configuration a document describes; ConfigError lists every problem found."""
    doc = {} if doc is None else _without_nulls(doc)
    bare_dashboard = (
        isinstance(doc, dict) and bool(DASHBOARD_KEYS & set(doc)) and "kpiDashboards" not in doc
    )
    problems = _schema_problems(doc, "kpiDashboard" if bare_dashboard else None)
    if problems:
        timezone = [] if bare_dashboard else _timezone_problems(doc)  # a dashboard has none
        raise ConfigError(sorted(problems + timezone, key=_path_order))
    doc.pop("$schema", None)
    if bare_dashboard:
        doc = {"kpiDashboards": [doc]}
    problems = _rule_problems(doc, prefix="" if bare_dashboard else None)
    if problems:
        raise ConfigError(problems)
    document = effective_document(doc)
    use_cases, bucket_metrics, business_hours = _dbt_rows(document)
    return MetricsConfig(
        document=document,
        timezone=document["timezone"],
        session_inactivity_minutes=document["policies"]["userSession"][
            "expireOnInactivityInMinutes"
        ],
        conversation_max_minutes=document["policies"]["conversation"]["maxDurationInMinutes"],
        unique_window_hours=document["impressions"]["uniqueWindowHours"],
        kpi_use_cases=use_cases,
        kpi_bucket_metrics=bucket_metrics,
        business_hours=business_hours,
    )


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _RepeatedKey(ValueError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: the
    last value would win silently (a setting edited at the top of a file, and again below)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue  # `<<: *anchor` merges; a list or map as a key is refused later
            key, line = self.construct_object(key_node), key_node.start_mark.line + 1
            if key in lines:
                raise _RepeatedKey(f"key {key!r} given twice (lines {lines[key]} and {line})")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedKey(f"key {key!r} given twice in one object")
        document[key] = value
    return document


def parse_text(text: str, kind: str = "YAML") -> Any:
    """The document in `text`: JSON when `kind` is "JSON", else YAML (which reads JSON too;
    `kind` names it in the error). A key given twice in one mapping is refused, not resolved
    to its last value."""
    try:
        if kind == "JSON":
            return json.loads(text, object_pairs_hook=_unique_pairs)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except (json.JSONDecodeError, yaml.YAMLError, _RepeatedKey) as exc:
        raise ConfigError([f"not valid {kind}: {str(exc).splitlines()[0]}"]) from None


def read_document(path: Path) -> Any:
    """The parsed JSON (`.json`) or YAML (anything else) at `path`. The errors do not name the
    file, as the document's own do not: the caller does."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of it
    except OSError as exc:
        raise ConfigError([f"cannot read the configuration: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    return parse_text(text, "JSON" if path.suffix == ".json" else "YAML")


def load_config(path: Path | None) -> MetricsConfig:
    """The effective configuration: the document at `path`, or the defaults."""
    return parse_config(None if path is None else read_document(path))
