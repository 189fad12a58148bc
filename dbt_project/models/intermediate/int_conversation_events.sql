{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
{{ build_after('int_build_scope') }} -- it records the watermarks of the models that follow
-- Every event of a messenger conversation with its session and (split) conversation: the rules
-- are the docs blocks session_rule and conversation_rule (models/docs/metric_rules.md).
-- Conversations are anchored windows of `conversation_max_minutes` over session starts.
-- One window pass over all events (partition by conversation, order by occurred_at, event_id)
-- attaches each event to its session (the latest session start at or before it, else the
-- first) and finds the latest user message at or before it; that message is in the event's
-- (split) conversation when the conversation is the first or the message is at or after the
-- conversation's opening session start (conversation numbers never decrease along the order).
-- Windows partition by conversation_id first: the same partitions, but the sort tells rows
-- apart by the UUID before comparing the (few, repeated) organization and bot names.
-- Incremental: strategy delete+insert, unique key (organization, bot, conversation_id). A
-- conversation with any event ingested after this table's watermark is recomputed whole, so a
-- late event re-splits exactly the sessions and conversations it touches; no lookback needed.
-- `events` is read twice in an incremental run (what is new, then the touched units' rows):
-- inlined, each read scans only what it needs instead of a copy of staging.
with events as {{ cte_hint(false) }} (

    select
        event_id,
        event_type,
        organization,
        bot,
        conversation_id,
        visitor_id,
        occurred_at,
        is_user_side,
        start_action,
        message_text,
        rating,
        intent,
        confidence,
        api,
        status_code,
        duration_ms,
        goal,
        goal_reason,
        last_ingested_at
    from {{ ref('stg_messenger__events') }}
    where event_type <> 'impression'

),

{% if is_incremental() %}
touched as (

    select distinct organization, bot, conversation_id
    from events
    where last_ingested_at > {{ ingest_watermark() }}

),
{% endif %}

scoped as (

    select * from events
    {% if is_incremental() %}
        semi join touched using (organization, bot, conversation_id)
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
            partition by conversation_id, organization, bot
            order by occurred_at, event_id
        ) as previous_user_activity_at
    from {{ ref('stg_messenger__events') }}
    {% if is_incremental() %}
        semi join touched using (organization, bot, conversation_id)
    {% endif %}
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
            partition by conversation_id, organization, bot
            order by occurred_at, event_id
        ) as session_number
    from user_activity
    where
        {{ opens_session(
            'occurred_at', 'previous_user_activity_at', var('session_inactivity_minutes')
        ) }}

),

conversation_windows as (

    select
        organization,
        bot,
        conversation_id,
        session_number,
        window_start_at as conversation_start_at,
        is_window_opener as is_conversation_start
    from (
        {{ anchored_windows(
            'session_starts',
            ['conversation_id', 'organization', 'bot'],
            'session_start_at',
            'session_number',
            interval_minutes(var('conversation_max_minutes')),
        ) }}
    )

),

session_conversations as (

    select
        session_starts.*,
        conversation_windows.conversation_start_at,
        sum(cast(conversation_windows.is_conversation_start as integer))
            over conversation_so_far as conversation_number,
        -- the event that opened the conversation's first session
        {{ ignoring_nulls(
            'last_value',
            'case when conversation_windows.is_conversation_start then session_starts.event_id end'
        ) }} over conversation_so_far as conversation_opener_id
    from session_starts
    inner join conversation_windows
        using (organization, bot, conversation_id, session_number)
    window conversation_so_far as (
        partition by session_starts.conversation_id, session_starts.organization, session_starts.bot
        order by session_starts.session_number
        rows unbounded preceding
    )

),

sessions as (

    -- what an event inherits from its session: computed once per session
    select
        event_id,
        {{ struct_of([
            ('session_number', 'session_number'),
            ('session_id',
                "md5(concat_ws('|', organization, bot, conversation_id, session_number))"),
            ('conversation_number', 'conversation_number'),
            ('conversation_key', "md5(concat_ws('|', organization, bot, conversation_id, "
                ~ "'conversation', conversation_number))"),
            ('conversation_start_at', 'conversation_start_at'),
            ('conversation_opener_id', 'conversation_opener_id'),
        ]) }} as session
    from session_conversations

),

attached as (

    select
        scoped.*,
        sessions.event_id is not null as is_session_start,
        coalesce(
            {{ ignoring_nulls('last_value', 'sessions.session') }} over so_far,
            -- before the first session: the first session, if the conversation has any
            {{ ignoring_nulls('first_value', 'sessions.session') }} over from_here
        ) as session,
        {{ ignoring_nulls(
            'last_value',
            "case when scoped.event_type = 'user_message' then "
            ~ struct_of([
                ('occurred_at', 'scoped.occurred_at'),
                ('event_id', 'scoped.event_id'),
                ('message_text', 'scoped.message_text'),
            ])
            ~ " end"
        ) }} over so_far as latest_user_message
    from scoped
    left join sessions using (event_id)
    window
        so_far as (
            partition by scoped.conversation_id, scoped.organization, scoped.bot
            order by scoped.occurred_at, scoped.event_id
            rows between unbounded preceding and current row
        ),
        from_here as (
            partition by scoped.conversation_id, scoped.organization, scoped.bot
            order by scoped.occurred_at, scoped.event_id
            rows between current row and unbounded following
        )

)

select
    event_id,
    event_type,
    organization,
    bot,
    conversation_id,
    visitor_id,
    occurred_at,
    is_user_side,
    is_session_start,
    session.session_number,
    session.session_id,
    session.conversation_number,
    session.conversation_key,
    session.conversation_start_at,
    start_action,
    rating,
    intent,
    confidence,
    api,
    status_code,
    duration_ms,
    goal,
    goal_reason,
    -- the latest user message of this (split) conversation at or before an intent match, masked
    -- (null when that message had no text)
    case
        when
            event_type = 'intent_matched'
            and (
                session.conversation_number = 1
                or latest_user_message.occurred_at > session.conversation_start_at
                or (
                    latest_user_message.occurred_at = session.conversation_start_at
                    and latest_user_message.event_id >= session.conversation_opener_id
                )
            )
            then {{ mask_personal_data('latest_user_message.message_text') }}
    end as masked_user_input,
    last_ingested_at
from attached
