{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per session; its date is the reporting-timezone date of its start, even when it runs
-- past midnight.
-- Incremental per messenger conversation (macro incremental_per_unit).
select
    session_id,
    organization,
    bot,
    conversation_id,
    conversation_key,
    visitor_id,
    session_number,
    session_start_at,
    {{ to_local_date('session_start_at') }} as session_date,
    hour({{ to_local_timestamp('session_start_at') }}) as session_start_local_hour,
    {{ weekday_label(to_local_timestamp('session_start_at')) }} as session_start_local_weekday,
    last_user_activity_at,
    session_end_at,
    {{ seconds_between('session_start_at', 'session_end_at') }} as session_duration_seconds,
    user_event_count,
    event_count,
    last_ingested_at
from {{ ref('int_sessions') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
