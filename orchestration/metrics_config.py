"""The metrics configuration document (section 2 of the contract): loading and checking.

The document is JSON or YAML; every key is optional and a null value counts as absent. Errors
name the offending key path, e.g. `kpiDashboards[0].useCases[1].summary.start: ...`. Unknown
keys are refused at the top level only, so a ServisBOT dashboard JSON can be pasted in as is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

TOP_LEVEL_KEYS = {"timezone", "policies", "impressions", "kpiDashboards"}
OBJECT_KEYS = ("policies", "policies.userSession", "policies.conversation", "impressions")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
USE_CASE_LISTS = (("useCases", "use_case"), ("additionalUsageMetrics", "additional_usage_metric"))
_HOURS = re.compile(r"([0-9]{2})-([0-9]{2})")

Rows = tuple[dict[str, Any], ...]


class ConfigError(ValueError):
    """The configuration document is invalid; the message names the key."""


@dataclass(frozen=True)
class MetricsConfig:
    document: dict[str, Any]
    timezone: str = "UTC"
    session_inactivity_minutes: int = 10
    conversation_max_minutes: int = 1440
    unique_window_hours: int = 24
    kpi_use_cases: Rows = ()
    kpi_bucket_metrics: Rows = ()
    business_hours: Rows = ()

    @property
    def content_hash(self) -> str:
        """Identifies what the marts depend on: keys the parser ignores do not change it."""
        blob = json.dumps(self.dbt_vars(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

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


def _got(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict | list):
        return f"got {'an object' if isinstance(value, dict) else 'a list'}"
    return f"got {value!r}"


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    walked = []
    for key in path.split("."):
        if node is None:
            return None
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(walked)}: must be an object, {_got(node)}")
        walked.append(key)
        node = node.get(key)
    return node


def _positive_int(doc: dict[str, Any], path: str, default: int) -> int:
    value = _get(doc, path)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: must be a positive integer, got {value!r}")
    return value


def _text(node: dict[str, Any], key: str, path: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}.{key}: must be a non-empty string, {_got(value)}")
    return value


def _optional_text(node: dict[str, Any], key: str, path: str) -> str | None:
    return None if node.get(key) is None else _text(node, key, path)


def _object(node: dict[str, Any], key: str, path: str, *, required: bool) -> dict[str, Any]:
    value = node.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}.{key}: must be an object, {_got(value)}")
    return value


def _objects(node: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
    """The optional list of objects at `node[key]`, each with its key path."""
    value = node.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list, {_got(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}[{index}]: must be an object, {_got(item)}")
    return [(f"{where}[{index}]", item) for index, item in enumerate(value)]


def _unique(seen: set[str], name: str, path: str, what: str) -> None:
    if name in seen:
        raise ConfigError(f"{path}: duplicate {what} {name!r}")
    seen.add(name)


def _business_hours(dashboard: dict[str, Any], path: str) -> list[dict[str, int]]:
    rows = []
    for day, value in _object(dashboard, "businessHours", path, required=False).items():
        where = f"{path}.businessHours.{day}"
        if day not in WEEKDAYS:
            raise ConfigError(f"{where}: unknown weekday (expected one of {', '.join(WEEKDAYS)})")
        if value is None:
            continue
        match = _HOURS.fullmatch(value) if isinstance(value, str) else None
        start, end = (int(match[1]), int(match[2])) if match else (0, 0)
        if not 0 <= start < end <= 24:
            raise ConfigError(
                f'{where}: must be "HH-HH" with 0 <= start < end <= 24 (e.g. "09-17"), '
                f"{_got(value)}"
            )
        rows.append({"isodow": WEEKDAYS.index(day) + 1, "start_hour": start, "end_hour": end})
    return sorted(rows, key=lambda row: row["isodow"])


def _parse_dashboards(doc: dict[str, Any]) -> tuple[Rows, Rows, Rows]:
    """`kpiDashboards` as the dbt vars kpi_use_cases, kpi_bucket_metrics, business_hours."""
    use_cases: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    hours: list[dict[str, Any]] = []
    aliases: set[str] = set()
    for path, dashboard in _objects(doc, "kpiDashboards", ""):
        alias = _text(dashboard, "alias", path)
        _unique(aliases, alias, f"{path}.alias", "dashboard alias")
        title = _optional_text(dashboard, "title", path) or alias
        bot = _text(dashboard, "resourceName", path)
        _optional_text(dashboard, "resourceType", path)
        owner = {"dashboard": alias, "bot": bot}
        hours += [{**owner, **row} for row in _business_hours(dashboard, path)]
        titles: set[str] = set()
        for list_key, kind in USE_CASE_LISTS:
            for uc_path, use_case in _objects(dashboard, list_key, path):
                name = _text(use_case, "title", uc_path)
                _unique(titles, name, f"{uc_path}.title", "use case title in this dashboard")
                summary = _object(use_case, "summary", uc_path, required=True)
                s_path = f"{uc_path}.summary"
                use_cases.append(
                    {
                        "dashboard": alias,
                        "dashboard_title": title,
                        "bot": bot,
                        "use_case": name,
                        "kind": kind,
                        "start_goal": _text(summary, "start", s_path),
                        "success_goal": _optional_text(summary, "success", s_path),
                        "failure_goal": _optional_text(summary, "failure", s_path),
                    }
                )
                metric_titles: set[str] = set()
                for m_path, metric in _objects(use_case, "metrics", uc_path):
                    metric_title = _text(metric, "title", m_path)
                    _unique(metric_titles, metric_title, f"{m_path}.title", "metric title")
                    if metric.get("type") != "bucket":
                        raise ConfigError(
                            f"{m_path}.type: must be 'bucket' (the only supported metric type), "
                            f"{_got(metric.get('type'))}"
                        )
                    properties = _object(metric, "properties", m_path, required=True)
                    goal = _text(properties, "goal", f"{m_path}.properties")
                    metrics.append(
                        {**owner, "use_case": name, "metric": metric_title, "goal": goal}
                    )
    return tuple(use_cases), tuple(metrics), tuple(hours)


def parse_config(doc: Any) -> MetricsConfig:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError("(document): must be an object")
    unknown = sorted(map(str, set(doc) - TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown key (expected one of {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    timezone = "UTC" if doc.get("timezone") is None else doc["timezone"]
    try:
        if not isinstance(timezone, str):
            raise ZoneInfoNotFoundError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown IANA timezone {timezone!r}") from None
    for path in OBJECT_KEYS:
        value = _get(doc, path)
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{path}: must be an object, {_got(value)}")
    use_cases, bucket_metrics, business_hours = _parse_dashboards(doc)
    return MetricsConfig(
        document=doc,
        timezone=timezone,
        session_inactivity_minutes=_positive_int(
            doc, "policies.userSession.expireOnInactivityInMinutes", 10
        ),
        conversation_max_minutes=_positive_int(
            doc, "policies.conversation.maxDurationInMinutes", 1440
        ),
        unique_window_hours=_positive_int(doc, "impressions.uniqueWindowHours", 24),
        kpi_use_cases=use_cases,
        kpi_bucket_metrics=bucket_metrics,
        business_hours=business_hours,
    )


def load_config(path: Path | None) -> MetricsConfig:
    """The effective configuration: the document at `path`, or the defaults."""
    if path is None:
        return parse_config({})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {str(exc).splitlines()[0]}"
        ) from None
    return parse_config(doc)
