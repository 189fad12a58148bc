{{ incremental_per_partition() }}
-- Bucket metrics per reporting-timezone day: the configured goal's events counted by reason
-- (`(no reason)` when the goal event carries none). Built-in goal names count events of that type.
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

metrics as (

    select * from {{ ref('int_kpi_bucket_metrics') }}

),

goal_events as (

    select
        organization,
        bot,
        case when event_type = 'goal' then goal else event_type end as goal_name,
        coalesce(goal_reason, '(no reason)') as bucket,
        {{ to_local_date('occurred_at') }} as metric_date,
        last_ingested_at
    from {{ ref('int_conversation_events') }}
    where
        event_type in ('goal', 'conversation_start', 'conversation_end', 'handover')
        and {{ in_touched_partitions(to_local_date('occurred_at'), 'occurred_at') }}

)

select
    goal_events.metric_date,
    goal_events.organization,
    goal_events.bot,
    metrics.dashboard,
    metrics.use_case,
    metrics.metric,
    goal_events.bucket,
    count(*) as goal_count,
    max(goal_events.last_ingested_at) as last_ingested_at
from metrics
inner join goal_events
    on metrics.bot = goal_events.bot and metrics.goal = goal_events.goal_name
group by
    goal_events.metric_date, goal_events.organization, goal_events.bot, metrics.dashboard,
    metrics.use_case, metrics.metric, goal_events.bucket
