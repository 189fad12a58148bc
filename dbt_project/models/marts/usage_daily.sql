-- Usage Metrics per reporting-timezone day, organization and bot. A missing row means zero.
with events as (

    select
        {{ to_local_date('occurred_at') }} as metric_date,
        organization,
        bot,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'conversation_start') as conversations_started,
        count(*) filter (where event_type = 'user_message') as user_messages
    from {{ ref('stg_messenger__events') }}
    group by all

),

sessions as (

    select
        session_date as metric_date,
        organization,
        bot,
        count(*) as sessions
    from {{ ref('fct_sessions') }}
    group by all

)

select
    metric_date,
    organization,
    bot,
    coalesce(events.impressions, 0) as impressions,
    coalesce(events.conversations_started, 0) as conversations_started,
    coalesce(sessions.sessions, 0) as sessions,
    coalesce(events.user_messages, 0) as user_messages
from events
full outer join sessions using (metric_date, organization, bot)
