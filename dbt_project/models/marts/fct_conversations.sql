{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per conversation (a messenger conversation split at maxDurationInMinutes), dated by
-- the reporting-timezone date of its first session's start.
-- Incremental per messenger conversation (macro incremental_per_unit).
select
    conversation_key,
    organization,
    bot,
    conversation_id,
    conversation_number,
    visitor_id,
    conversation_start_at,
    {{ to_local_date('conversation_start_at') }} as conversation_date,
    conversation_end_at,
    {{ seconds_between('conversation_start_at', 'conversation_end_at') }} as conversation_duration_seconds,
    session_count,
    user_message_count,
    bot_message_count,
    has_handover,
    has_feedback,
    last_ingested_at
from {{ ref('int_conversations') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
