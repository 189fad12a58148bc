"""Delivery-day partitions: one per UTC day folder of the landing area."""

import datetime as dt

import dagster as dg

from orchestration.settings import PARTITIONS_START_DATE

# end_offset=1: today's folder is a partition while files are still landing in it.
delivery_days = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, end_offset=1)


def latest_delivery_day() -> str:
    """The newest partition: today (UTC) plus one day of clock skew between systems."""
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()


def outside_partitions(days: list[str]) -> list[str]:
    """Day folders no partition covers (before the start date, or in the future)."""
    latest = latest_delivery_day()
    return [d for d in days if not PARTITIONS_START_DATE <= d <= latest]
