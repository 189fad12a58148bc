{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per intent_matched event; `fallback` is a missed input.
-- Incremental per messenger conversation (macro incremental_per_unit).
with conversation_handovers as (

    select
        conversation_key,
        max(occurred_at) as last_handover_at
    from {{ ref('int_conversation_events') }}
    {{ only_touched_conversations(ref('int_conversation_events')) }}
    where event_type = 'handover' and conversation_key is not null
    group by conversation_key

)

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
    coalesce(handovers.last_handover_at > events.occurred_at, false) as is_followed_by_handover,
    occurred_at as matched_at,
    {{ to_local_date('occurred_at') }} as match_date,
    events.last_ingested_at
from {{ ref('int_conversation_events') }} as events
{{ only_touched_conversations(ref('int_conversation_events')) }}
left join conversation_handovers as handovers using (conversation_key)
where events.event_type = 'intent_matched'
