"""The metrics configuration document (section 2 of the contract): loading and checking.

The document is JSON or YAML; every key is optional. Errors name the offending key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

TOP_LEVEL_KEYS = {"timezone", "policies", "impressions", "kpiDashboards"}


class ConfigError(ValueError):
    """The configuration document is invalid; the message names the key."""


@dataclass(frozen=True)
class MetricsConfig:
    document: dict[str, Any]
    timezone: str = "UTC"
    session_inactivity_minutes: int = 10
    conversation_max_minutes: int = 1440
    unique_window_hours: int = 24

    @property
    def content_hash(self) -> str:
        blob = json.dumps(self.dbt_vars(), sort_keys=True) + json.dumps(
            self.document, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def dbt_vars(self) -> dict[str, Any]:
        return {
            "reporting_timezone": self.timezone,
            "session_inactivity_minutes": self.session_inactivity_minutes,
            "conversation_max_minutes": self.conversation_max_minutes,
            "unique_window_hours": self.unique_window_hours,
        }


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    walked = []
    for key in path.split("."):
        if node is None:
            return None
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(walked)}: must be an object")
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


def parse_config(doc: Any) -> MetricsConfig:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError("(document): must be an object")
    unknown = sorted(set(doc) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown key (expected one of {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    timezone = doc.get("timezone", "UTC")
    try:
        if not isinstance(timezone, str):
            raise ZoneInfoNotFoundError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown IANA timezone {timezone!r}") from None
    dashboards = doc.get("kpiDashboards", [])
    if not isinstance(dashboards, list):
        raise ConfigError("kpiDashboards: must be a list")
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
