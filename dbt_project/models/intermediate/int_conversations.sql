{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per conversation: a messenger conversation split where a session opens at least
-- `conversation_max_minutes` after the conversation's start. Starts at its first session.
-- Incremental per messenger conversation (macro incremental_per_unit): a late event can re-split a
-- (split) conversation.
select
    conversation_key,
    organization,
    bot,
    conversation_id,
    conversation_number,
    any_value(conversation_start_at) as conversation_start_at,
    min_by(visitor_id, (occurred_at, event_id)) filter (where is_session_start) as visitor_id,
    max(occurred_at) as conversation_end_at,
    count(distinct session_number) as session_count,
    count(*) filter (where event_type = 'user_message') as user_message_count,
    count(*) filter (where event_type = 'bot_message') as bot_message_count,
    count(*) filter (where event_type = 'handover') > 0 as has_handover,
    count(*) filter (where event_type = 'feedback') > 0 as has_feedback,
    max(last_ingested_at) as last_ingested_at
from {{ ref('int_conversation_events') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
where conversation_key is not null
group by conversation_key, organization, bot, conversation_id, conversation_number
