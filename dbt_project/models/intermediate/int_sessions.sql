-- Sessions: within one conversation, a user-side event opens a new session when at least
-- `session_inactivity_minutes` have passed since the previous user-side event (exactly the
-- timeout has expired). Bot-side events never extend a session.
with user_events as (

    select
        event_id,
        organization,
        bot,
        conversation_id,
        visitor_id,
        occurred_at
    from {{ ref('stg_messenger__events') }}
    where is_user_side

),

gaps as (

    select
        *,
        lag(occurred_at) over (
            partition by organization, bot, conversation_id
            order by occurred_at, event_id
        ) as previous_activity_at
    from user_events

),

flagged as (

    select
        *,
        previous_activity_at is null
        or occurred_at >= previous_activity_at
        + to_minutes(cast({{ var('session_inactivity_minutes') }} as bigint)) as is_session_start
    from gaps

),

numbered as (

    select
        *,
        sum(cast(is_session_start as integer)) over (
            partition by organization, bot, conversation_id
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged

)

select
    md5(concat_ws('|', organization, bot, conversation_id, session_number)) as session_id,
    organization,
    bot,
    conversation_id,
    session_number,
    arg_min(visitor_id, (occurred_at, event_id)) as visitor_id,
    arg_min(event_id, (occurred_at, event_id)) as opening_event_id,
    min(occurred_at) as session_start_at,
    max(occurred_at) as last_user_activity_at,
    count(*) as user_event_count
from numbered
group by organization, bot, conversation_id, session_number
