{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per session, aggregated from the sessionised conversation events. A session starts at
-- its opening user-side event and ends at the last event (either side) attached to it.
-- Incremental per messenger conversation (macro incremental_per_unit): a late event can merge or
-- split sessions.
select
    session_id,
    organization,
    bot,
    conversation_id,
    session_number,
    any_value(conversation_key) as conversation_key,
    any_value(conversation_number) as conversation_number,
    min_by(visitor_id, (occurred_at, event_id)) filter (where is_session_start) as visitor_id,
    min_by(event_id, (occurred_at, event_id)) filter (where is_session_start) as opening_event_id,
    min(occurred_at) filter (where is_session_start) as session_start_at,
    max(occurred_at) filter (where is_user_side) as last_user_activity_at,
    max(occurred_at) as session_end_at,
    count(*) filter (where is_user_side) as user_event_count,
    count(*) as event_count,
    max(last_ingested_at) as last_ingested_at
from {{ ref('int_conversation_events') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
where session_id is not null
group by session_id, organization, bot, conversation_id, session_number
