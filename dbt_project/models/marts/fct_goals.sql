{{
    config(
        materialized='incremental',
        incremental_strategy='replace_units',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per goal event (KPI milestones such as pw_reset_start, with an optional reason).
-- Incremental: strategy replace_units (macros/incremental_units.sql), unique key (organization,
-- bot, conversation_id): the recompute unit, not the row's id (every row of a touched unit is
-- deleted, even when the unit yields none now). The goal events of a messenger conversation with an
-- event ingested after this table's watermark are recomputed and replace all of its rows. No
-- lookback needed.
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
