{{
    config(
        materialized='incremental',
        incremental_strategy='replace_units',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per conversation and goal name it reached. Goal names are `goal` events'
-- properties.goal, plus the built-in names conversation_start, conversation_end and handover
-- (events of those types).
-- Incremental: strategy replace_units (macros/incremental_units.sql), unique key (organization,
-- bot, conversation_id): the recompute unit, not the row's id (every row of a touched unit is
-- deleted, even when the unit yields none now). A messenger conversation with an event ingested
-- after this table's watermark is recomputed whole and replaces all of its rows. No lookback
-- needed.
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
