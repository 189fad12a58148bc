"""Which mart suites exist, on which table, and whether a failure blocks the publish.

Light on purpose (no Great Expectations import): the Dagster definitions read it at import.
The expectations themselves are in marts.py.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class MartSuite:
    name: str  # also the Dagster check name
    table: str  # marts.<table>, the asset the check is on
    blocking: bool  # invariant of the metric definitions: a failure means a wrong number


MART_SUITES = (
    MartSuite("gx_usage_daily", "usage_daily", blocking=True),
    MartSuite("gx_intent_daily", "intent_daily", blocking=True),
    MartSuite("gx_api_daily", "api_daily", blocking=True),
    MartSuite("gx_kpi_daily", "kpi_daily", blocking=True),
    # a day without any traffic is suspicious (a missing delivery?) but not a wrong number
    MartSuite("gx_usage_calendar", "usage_daily", blocking=False),
)
