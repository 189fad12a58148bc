"""Editing the configuration from Dagster's launchpad: a typed patch of the document.

The launchpad shows the document's keys with their types (contract section 2). Only what is
given changes: scalar settings replace the current ones, dashboards are matched by `alias` and
use cases by `title` (a new one is added, a known one replaced), and `remove` deletes by key
path as the history's diffs name them. `document` replaces the whole configuration first (paste
a configuration or a ServisBOT dashboard JSON). The result is checked like any document.
"""

import copy
import re
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration import metrics_config
from orchestration.metrics_config import ConfigError, MetricsConfig, parse_config

USE_CASE_LISTS = tuple(key for key, _ in metrics_config.USE_CASE_LISTS)
_REMOVABLE = re.compile(
    r"kpiDashboards\[(?P<alias>[^\]]+)\](?:\.(?P<list>useCases|additionalUsageMetrics)"
    r"\[(?P<title>[^\]]+)\])?"
)


def _setting(path: str) -> Any:
    """A launchpad field for a scalar setting: its description, bounds and default shown from
    the configuration's JSON Schema (left out, the current value stays). The bounds are checked
    with the rest of the document, so a value out of them is refused with its key path."""
    node = metrics_config.setting(path)
    bounds = [f"min {node['minimum']}"] if "minimum" in node else []
    bounds += [f"max {node['maximum']}"] if "maximum" in node else []
    return Field(
        default=None,
        description=f"{node['description'].rstrip('.')} ("
        + ", ".join([*bounds, f"default {node['default']}"])
        + ").",
    )


class UserSessionPolicy(dg.Config):
    expireOnInactivityInMinutes: int | None = _setting(
        "policies.userSession.expireOnInactivityInMinutes"
    )


class ConversationPolicy(dg.Config):
    maxDurationInMinutes: int | None = _setting("policies.conversation.maxDurationInMinutes")


class Policies(dg.Config):
    userSession: UserSessionPolicy | None = None
    conversation: ConversationPolicy | None = None


class Impressions(dg.Config):
    uniqueWindowHours: int | None = _setting("impressions.uniqueWindowHours")


class Summary(dg.Config):
    start: str = Field(description="Goal that starts the use case.")
    success: str = Field(description="Goal that makes a start a success.")
    failure: str = Field(description="Goal that makes a start a failure (else abandoned).")


class BucketProperties(dg.Config):
    goal: str


class BucketMetric(dg.Config):
    title: str
    type: str = "bucket"
    properties: BucketProperties


class UseCase(dg.Config):
    title: str = Field(description="Matched by title: a new title adds, a known one replaces.")
    summary: Summary
    metrics: list[BucketMetric] | None = None


class BusinessHours(dg.Config):
    monday: str | None = None
    tuesday: str | None = None
    wednesday: str | None = None
    thursday: str | None = None
    friday: str | None = None
    saturday: str | None = None
    sunday: str | None = None


class KpiDashboard(dg.Config):
    alias: str = Field(description="Matched by alias: a new alias adds a dashboard.")
    title: str | None = None
    resourceName: str | None = Field(default=None, description="The bot (new dashboards).")
    resourceType: str | None = None
    businessHours: BusinessHours | None = Field(
        default=None, description='Replaces the dashboard\'s hours, "HH-HH" per weekday.'
    )
    useCases: list[UseCase] | None = None
    additionalUsageMetrics: list[UseCase] | None = None


class ConfigurationEdit(dg.Config):
    """What to change; keys left out keep their current value."""

    document: str | None = Field(
        default=None,
        description="A whole configuration document (YAML or JSON, e.g. a pasted ServisBOT "
        "KPI dashboard JSON) replacing the current one before the other fields apply.",
    )
    timezone: str | None = _setting("timezone")
    policies: Policies | None = None
    impressions: Impressions | None = None
    kpiDashboards: list[KpiDashboard] | None = Field(
        default=None, description="Dashboards to add, or to change (matched by alias)."
    )
    remove: list[str] = Field(
        default=[],
        description="Key paths to delete: kpiDashboards[alias] or "
        "kpiDashboards[alias].useCases[title] (or .additionalUsageMetrics[title]).",
    )

    def patch(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"document", "remove"})


def _merge_named(current: list[dict], changes: list[dict], key: str, merge: Any) -> list[dict]:
    merged = [copy.deepcopy(item) for item in current]
    by_name = {item[key]: item for item in merged}
    for change in changes:
        if change[key] in by_name:
            merge(by_name[change[key]], change)
        else:
            merged.append(change)
            by_name[change[key]] = change
    return merged


def _merge_dashboard(dashboard: dict[str, Any], change: dict[str, Any]) -> None:
    for key, value in change.items():
        if key in USE_CASE_LISTS:
            dashboard[key] = _merge_named(
                dashboard.get(key, []), value, "title", lambda old, new: old.update(new)
            )
        else:
            dashboard[key] = value


def _remove(document: dict[str, Any], path: str) -> None:
    match = _REMOVABLE.fullmatch(path)
    if not match:
        expected = "kpiDashboards[alias] or kpiDashboards[alias].useCases[title]"
        raise ConfigError([f"remove: {path!r} is not {expected}"])
    dashboards = document["kpiDashboards"]
    dashboard = next((d for d in dashboards if d["alias"] == match["alias"]), None)
    if dashboard is None:
        raise ConfigError([f"remove: no dashboard with alias {match['alias']!r}"])
    if match["list"] is None:
        dashboards.remove(dashboard)
        return
    items = dashboard.get(match["list"], [])
    item = next((i for i in items if i["title"] == match["title"]), None)
    if item is None:
        where = f"{match['list']} of {match['alias']!r}"
        raise ConfigError([f"remove: no entry titled {match['title']!r} in {where}"])
    items.remove(item)


def edited(current: MetricsConfig | None, edit: ConfigurationEdit) -> MetricsConfig:
    """The configuration after `edit` (`current` is not needed when it replaces the whole
    document); ConfigError names every problem of the result."""
    if edit.document is not None or current is None:
        try:
            pasted = metrics_config.parse_text(edit.document or "", "YAML or JSON")
        except ConfigError as exc:
            raise ConfigError([f"document: {exc.errors[0]}"]) from None
        base = parse_config(pasted).document
    else:
        base = copy.deepcopy(current.document)
    patch = edit.patch()
    for key in ("timezone", "policies", "impressions"):
        if key in patch:
            base[key] = _deep_update(base.get(key), patch[key])
    if "kpiDashboards" in patch:
        base["kpiDashboards"] = _merge_named(
            base["kpiDashboards"], patch["kpiDashboards"], "alias", _merge_dashboard
        )
    for path in edit.remove:
        _remove(base, path)
    return parse_config(base)


def _deep_update(current: Any, change: Any) -> Any:
    if isinstance(current, dict) and isinstance(change, dict):
        return {**current, **{k: _deep_update(current.get(k), v) for k, v in change.items()}}
    return change
