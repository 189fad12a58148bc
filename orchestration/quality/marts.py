"""The suite on the marts, run on the build database before anything is published.

Each table's expectations are invariants of the metric definitions (a failure means a wrong
number, so the Dagster checks built from them block the publish), except the calendar check:
a day without any traffic is suspicious (a missing delivery?) but not wrong, so it warns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe

from orchestration.quality.gx_project import GxProject, SuiteOutcome
from orchestration.quality.mart_specs import MART_SUITES


def _rates(*columns: str) -> list:
    return [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1) for c in columns]


def _at_least(column_a: str, column_b: str) -> object:
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=column_a, column_B=column_b, or_equal=True
    )


def _calendar(con: duckdb.DuckDBPyConnection) -> list:
    first, last = con.execute(
        "SELECT min(metric_date), max(metric_date) FROM marts.usage_daily"
    ).fetchone()
    days = (
        []
        if first is None
        else [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    )
    return [gxe.ExpectColumnDistinctValuesToContainSet(column="metric_date", value_set=days)]


# suite name -> (query on the build database, expectations given a connection to it)
QUERIES_AND_EXPECTATIONS: dict[str, tuple[str, Callable[[duckdb.DuckDBPyConnection], list]]] = {
    "gx_usage_daily": (
        "SELECT * FROM marts.usage_daily",
        lambda _: [
            *_rates("engagement_rate", "fallback_share"),
            _at_least("impressions", "unique_impressions"),
            _at_least("unique_impressions", "engaged_unique_impressions"),
            _at_least("sessions", "conversations"),
            _at_least("intent_matches", "fallback_matches"),
        ],
    ),
    "gx_intent_daily": (
        "SELECT * FROM marts.intent_daily",
        lambda _: [
            *_rates("share_of_matches", "fallback_share", "avg_confidence"),
            _at_least("bot_day_matches", "matches"),
        ],
    ),
    "gx_api_daily": (
        "SELECT * FROM marts.api_daily",
        lambda _: [*_rates("failure_rate"), _at_least("calls", "failed_calls")],
    ),
    "gx_kpi_daily": (
        "SELECT *, successes + failures + abandons AS outcomes FROM marts.kpi_daily",
        lambda _: [
            gxe.ExpectColumnPairValuesToBeEqual(column_A="starts", column_B="outcomes"),
            _at_least("starts", "business_hours_starts"),
            _at_least("business_hours_starts", "business_hours_successes"),
        ],
    ),
    "gx_usage_calendar": (
        "SELECT DISTINCT CAST(metric_date AS VARCHAR) AS metric_date FROM marts.usage_daily",
        _calendar,
    ),
}


def check_marts(state: Path, build_db: Path, batch: str) -> tuple[list[SuiteOutcome], Path]:
    """Validate every suite of MART_SUITES against the build database (outcomes in that order)
    and rebuild the Data Docs."""
    project = GxProject(state)
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        outcomes = []
        for suite in MART_SUITES:
            query, expectations = QUERIES_AND_EXPECTATIONS[suite.name]
            outcomes.append(
                project.validate(suite.name, expectations(con), con.execute(query).df(), batch)
            )
    finally:
        con.close()
    return outcomes, project.build_docs()
