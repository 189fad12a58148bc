"""Delivery-day partitions: one per UTC day folder of the landing area."""

import dagster as dg

from orchestration.settings import PARTITIONS_START_DATE

# end_offset=1: today's folder is a partition while files are still landing in it.
delivery_days = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, end_offset=1)
