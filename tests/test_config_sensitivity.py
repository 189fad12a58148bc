"""The Configuration dashboard's sensitivity (marts.config_sensitivity_daily) against real builds.

For every day, organization and bot, the row of a candidate setting must be exactly what a build
with that setting publishes: count(*) of marts.fct_sessions per session_date for an inactivity
timeout, usage_daily.unique_impressions for a unique-impression window. Checked on the demo
warehouse (demo configuration: Europe/Dublin, timeout 10, window 24) and on a second warehouse
built from the same landing files with timeout 30, window 48 and another reporting timezone
(Asia/Kolkata, UTC+05:30: days cut elsewhere than Dublin's, which is UTC in November), each
against the other; across timezones the other build's sessions and unique impressions are
re-dated from their UTC start (a session's or impression's UTC time does not depend on the
timezone).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import DEMO_CONFIG, query, sbm

TIMEOUT = "policies.userSession.expireOnInactivityInMinutes"
WINDOW = "impressions.uniqueWindowHours"
DEMO_TIMEZONE, OTHER_TIMEZONE = "Europe/Dublin", "Asia/Kolkata"
Key = tuple[object, str, str]  # metric_date, organization, bot


def _sensitivity(warehouse: Path, setting_key: str, candidate: int) -> dict[Key, int]:
    rows = query(
        warehouse,
        "SELECT metric_date, organization, bot, metric_value FROM marts.config_sensitivity_daily "
        f"WHERE setting_key = '{setting_key}' AND candidate_value = {candidate}",
    )
    return {(d, o, b): n for d, o, b, n in rows}


def _published(warehouse: Path, setting_key: str, timezone: str | None = None) -> dict[Key, int]:
    """What the build publishes for the setting it was built with; with `timezone`, its sessions
    (by start) and unique impressions re-dated in that reporting timezone."""
    if timezone is None:
        sql = {
            TIMEOUT: "SELECT session_date, organization, bot, count(*) FROM marts.fct_sessions "
            "GROUP BY ALL",
            WINDOW: "SELECT metric_date, organization, bot, unique_impressions "
            "FROM marts.usage_daily",
        }[setting_key]
    else:
        local = "CAST(timezone('{tz}', {at} AT TIME ZONE 'UTC') AS DATE)"
        sql = {
            TIMEOUT: f"SELECT {local.format(tz=timezone, at='session_start_at')}, organization, "
            "bot, count(*) FROM marts.fct_sessions GROUP BY ALL",
            WINDOW: f"SELECT {local.format(tz=timezone, at='impression_at')}, organization, bot, "
            "count(*) FILTER (WHERE is_unique) FROM marts.fct_impressions GROUP BY ALL",
        }[setting_key]
    return {(d, o, b): n for d, o, b, n in query(warehouse, sql)}


def _assert_same(sensitivity: dict[Key, int], published: dict[Key, int], what: str) -> None:
    """Equal per day, organization and bot; a missing row means zero (zeros are kept as rows
    in the sensitivity mart, never in fct_sessions)."""
    assert sum(published.values()) > 0, f"{what}: nothing published"
    keys = sensitivity.keys() | published.keys()
    diffs = {
        k: (sensitivity.get(k, 0), published.get(k, 0))
        for k in keys
        if sensitivity.get(k, 0) != published.get(k, 0)
    }
    examples = sorted(diffs.items(), key=repr)[:5]
    assert not diffs, (
        f"{what}: (sensitivity, build) differ on {len(diffs)} of {len(keys)}: {examples}"
    )


@pytest.fixture(scope="module")
def other_warehouse(demo_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo landing files and configuration, but timeout 30 minutes, window 48 hours and
    reporting timezone Asia/Kolkata."""
    root = tmp_path_factory.mktemp("sensitivity")
    doc = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    doc["policies"]["userSession"]["expireOnInactivityInMinutes"] = 30
    doc["impressions"]["uniqueWindowHours"] = 48
    doc["timezone"] = OTHER_TIMEZONE
    config = root / "metrics.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    warehouse = root / "warehouse.duckdb"
    sbm("run", "--landing", demo_landing, "--warehouse", warehouse, "--config", config)
    return warehouse


def test_configured_values_are_the_published_numbers(dashboard_warehouse: Path):
    for key, configured in ((TIMEOUT, 10), (WINDOW, 24)):
        _assert_same(
            _sensitivity(dashboard_warehouse, key, configured),
            _published(dashboard_warehouse, key),
            f"{key}={configured}",
        )
    flags = query(
        dashboard_warehouse,
        "SELECT setting_key, candidate_value, bool_and(is_configured), bool_or(is_configured) "
        "FROM marts.config_sensitivity_daily GROUP BY ALL ORDER BY ALL",
    )
    assert flags == [
        (WINDOW, 12, False, False),
        (WINDOW, 24, True, True),
        (WINDOW, 48, False, False),
        (TIMEOUT, 5, False, False),
        (TIMEOUT, 10, True, True),
        (TIMEOUT, 15, False, False),
        (TIMEOUT, 20, False, False),
        (TIMEOUT, 30, False, False),
    ]


def test_other_candidates_are_what_a_build_with_them_publishes(
    dashboard_warehouse: Path, other_warehouse: Path
):
    for key, demo_value, other_value in ((TIMEOUT, 10, 30), (WINDOW, 24, 48)):
        # the other build's own configured value, dated in its own timezone
        _assert_same(
            _sensitivity(other_warehouse, key, other_value),
            _published(other_warehouse, key),
            f"other build's configured {key}={other_value}",
        )
        # the demo build's candidate 30 / 48 = the build configured with it, and the other way
        _assert_same(
            _sensitivity(dashboard_warehouse, key, other_value),
            _published(other_warehouse, key, DEMO_TIMEZONE),
            f"demo build's {key}={other_value}",
        )
        _assert_same(
            _sensitivity(other_warehouse, key, demo_value),
            _published(dashboard_warehouse, key, OTHER_TIMEZONE),
            f"other build's {key}={demo_value}",
        )
        # the settings and the timezone change the numbers (else the above proves little)
        assert _published(other_warehouse, key, DEMO_TIMEZONE) != _published(
            dashboard_warehouse, key
        ), key
        assert _published(dashboard_warehouse, key, OTHER_TIMEZONE) != _published(
            dashboard_warehouse, key
        ), key
    # re-dating reproduces what a build publishes in its own timezone
    assert _published(dashboard_warehouse, TIMEOUT, DEMO_TIMEZONE) == _published(
        dashboard_warehouse, TIMEOUT
    )
    assert _published(other_warehouse, WINDOW, OTHER_TIMEZONE) == _published(
        other_warehouse, WINDOW
    )
