{{ incremental_per_partition() }}
-- API calls per reporting-timezone day, organization, bot and API connector. Latency
-- percentiles are per day; for a date range compute them from fct_api_calls (percentiles do
-- not add up across days).
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

calls as (

    select * from {{ ref('fct_api_calls') }}
    where {{ in_touched_partitions('call_date') }}

)

select
    call_date as metric_date,
    organization,
    bot,
    api,
    count(*) as calls,
    count(*) filter (where is_failed) as failed_calls,
    count(*) filter (where is_failed) / count(*) as failure_rate,
    count(duration_ms) as timed_calls,
    avg(duration_ms) as avg_latency_ms,
    percentile_cont(0.5) within group (order by duration_ms) as latency_p50_ms,
    percentile_cont(0.95) within group (order by duration_ms) as latency_p95_ms,
    max(last_ingested_at) as last_ingested_at
from calls
group by call_date, organization, bot, api
