{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per conversation and goal name it reached. Goal names are `goal` events'
-- properties.goal, plus the built-in names conversation_start, conversation_end and handover
-- (events of those types).
-- Incremental per messenger conversation (macro incremental_per_unit).
select
    conversation_key,
    case when event_type = 'goal' then goal else event_type end as goal_name,
    organization,
    bot,
    conversation_id,
    max(last_ingested_at) as last_ingested_at
from {{ ref('int_conversation_events') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
where
    conversation_key is not null
    and event_type in ('goal', 'conversation_start', 'conversation_end', 'handover')
group by all
