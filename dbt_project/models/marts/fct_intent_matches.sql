-- One row per intent_matched event; `fallback` is a missed input.
select
    event_id as intent_match_id,
    organization,
    bot,
    conversation_id,
    conversation_key,
    session_id,
    intent,
    confidence,
    intent = 'fallback' as is_fallback,
    occurred_at as matched_at,
    {{ to_local_date('occurred_at') }} as match_date
from {{ ref('int_conversation_events') }}
where event_type = 'intent_matched'
