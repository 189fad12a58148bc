{{ incremental_per_partition() }}
-- KPI use-case outcomes per reporting-timezone day of the conversation's start.
-- starts = successes + failures + abandons. A missing row means zero.
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

outcomes as (

    select * from {{ ref('fct_kpi_outcomes') }}
    where {{ in_touched_partitions('conversation_date') }}

)

select
    conversation_date as metric_date,
    organization,
    bot,
    dashboard,
    use_case,
    any_value(dashboard_title) as dashboard_title,
    any_value(kind) as kind,
    count(*) as starts,
    count(*) filter (where outcome = 'success') as successes,
    count(*) filter (where outcome = 'failure') as failures,
    count(*) filter (where outcome = 'abandoned') as abandons,
    count(*) filter (where is_business_hours) as business_hours_starts,
    count(*) filter (where is_business_hours and outcome = 'success')
        as business_hours_successes,
    max(last_ingested_at) as last_ingested_at
from outcomes
group by conversation_date, organization, bot, dashboard, use_case
