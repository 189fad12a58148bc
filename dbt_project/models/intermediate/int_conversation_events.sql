{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- Every event of a messenger conversation with its session and (split) conversation.
-- Sessions: a user-side event opens a session when it comes at least the inactivity timeout
-- after the previous user-side event of the conversation (exactly the timeout has expired).
-- Bot-side events belong to the latest session opened at or before them, else the first.
-- Conversations: anchored windows of `conversation_max_minutes` over session starts; only a new
-- session can open a new conversation, so an active session keeps its conversation going.
-- Incremental: strategy delete+insert, unique key (organization, bot, conversation_id). A
-- conversation with any event ingested after this table's watermark is recomputed whole, so a
-- late event re-splits exactly the sessions and conversations it touches; no lookback needed.
with events as (

    select *
    from {{ ref('stg_messenger__events') }}
    where event_type <> 'impression'

),

scoped as (

    select * from events
    {% if is_incremental() %}
        semi join (
            select distinct organization, bot, conversation_id
            from events
            where last_ingested_at > {{ ingest_watermark() }}
        ) as touched using (organization, bot, conversation_id)
    {% endif %}

),

user_activity as (

    select
        event_id,
        organization,
        bot,
        conversation_id,
        occurred_at,
        lag(occurred_at) over (
            partition by organization, bot, conversation_id
            order by occurred_at, event_id
        ) as previous_user_activity_at
    from scoped
    where is_user_side

),

session_starts as (

    select
        event_id,
        organization,
        bot,
        conversation_id,
        occurred_at as session_start_at,
        row_number() over (
            partition by organization, bot, conversation_id
            order by occurred_at, event_id
        ) as session_number
    from user_activity
    where
        previous_user_activity_at is null
        or occurred_at >= previous_user_activity_at
        + to_minutes(cast({{ var('session_inactivity_minutes') }} as bigint))

),

conversation_windows as (

    select
        organization,
        bot,
        conversation_id,
        session_number,
        window_opener_id as conversation_first_session,
        window_start_at as conversation_start_at,
        is_window_opener as is_conversation_start
    from (
        {{ anchored_windows(
            'session_starts',
            ['organization', 'bot', 'conversation_id'],
            'session_start_at',
            'session_number',
            "to_minutes(cast(" ~ var('conversation_max_minutes') ~ " as bigint))",
        ) }}
    )

),

sessions as (

    select
        session_starts.*,
        conversation_windows.conversation_first_session,
        conversation_windows.conversation_start_at,
        sum(cast(conversation_windows.is_conversation_start as integer)) over (
            partition by session_starts.organization, session_starts.bot, session_starts.conversation_id
            order by session_starts.session_number
            rows unbounded preceding
        ) as conversation_number
    from session_starts
    inner join conversation_windows
        using (organization, bot, conversation_id, session_number)

),

attached as (

    select
        scoped.*,
        sessions.session_number is not null as is_session_start,
        coalesce(
            max(sessions.session_number) over (
                partition by scoped.organization, scoped.bot, scoped.conversation_id
                order by scoped.occurred_at, scoped.event_id
                rows unbounded preceding
            ),
            -- before the first session: the first session, if the conversation has any
            case when max(sessions.session_number) over (
                partition by scoped.organization, scoped.bot, scoped.conversation_id
            ) is not null then 1 end
        ) as session_number,
        {{ mask_personal_data('scoped.message_text') }} as masked_text
    from scoped
    left join sessions using (event_id)

)

select
    attached.event_id,
    attached.event_type,
    attached.organization,
    attached.bot,
    attached.conversation_id,
    attached.visitor_id,
    attached.occurred_at,
    attached.is_user_side,
    attached.is_session_start,
    attached.session_number,
    case when attached.session_number is not null then md5(concat_ws(
        '|', attached.organization, attached.bot, attached.conversation_id, attached.session_number
    )) end as session_id,
    sessions.conversation_number,
    case when sessions.conversation_number is not null then md5(concat_ws(
        '|', attached.organization, attached.bot, attached.conversation_id,
        'conversation', sessions.conversation_number
    )) end as conversation_key,
    sessions.conversation_start_at,
    attached.start_action,
    attached.rating,
    attached.intent,
    attached.confidence,
    attached.api,
    attached.status_code,
    attached.duration_ms,
    attached.goal,
    attached.goal_reason,
    -- the latest user message of this (split) conversation at or before an intent match (null
    -- when that message had no text)
    case when attached.event_type = 'intent_matched' then nullif(last_value(
        case when attached.event_type = 'user_message' then coalesce(attached.masked_text, '') end
        ignore nulls
    ) over (
        partition by
            attached.organization, attached.bot, attached.conversation_id,
            sessions.conversation_number
        order by attached.occurred_at, attached.event_id
        rows unbounded preceding
    ), '') end as masked_user_input,
    attached.last_ingested_at
from attached
left join sessions
    on
        attached.organization = sessions.organization
        and attached.bot = sessions.bot
        and attached.conversation_id = sessions.conversation_id
        and attached.session_number = sessions.session_number
