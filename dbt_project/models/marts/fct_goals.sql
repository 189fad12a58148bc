{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per goal event (KPI milestones such as pw_reset_start, with an optional reason).
-- Incremental per messenger conversation (macro incremental_per_unit).
select
    event_id as goal_event_id,
    organization,
    bot,
    conversation_id,
    conversation_key,
    session_id,
    goal,
    goal_reason,
    occurred_at as reached_at,
    {{ to_local_date('occurred_at') }} as goal_date,
    last_ingested_at
from {{ ref('int_conversation_events') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
where event_type = 'goal'
