{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per api_call event (docs block api_call_rule).
-- Incremental per messenger conversation (macro incremental_per_unit).
select
    event_id as api_call_id,
    organization,
    bot,
    conversation_id,
    conversation_key,
    session_id,
    api,
    status_code,
    status_code >= 400 as is_failed,
    duration_ms,
    occurred_at as called_at,
    {{ to_local_date('occurred_at') }} as call_date,
    last_ingested_at
from {{ ref('int_conversation_events') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
where event_type = 'api_call'
