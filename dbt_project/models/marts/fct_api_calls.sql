{{
    config(
        materialized='incremental',
        incremental_strategy='replace_units',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per api_call event (docs block api_call_rule).
-- Incremental: strategy replace_units (macros/incremental_units.sql), unique key (organization,
-- bot, conversation_id): the recompute unit, not the row's id (every row of a touched unit is
-- deleted, even when the unit yields none now). The api calls of a messenger conversation with an
-- event ingested after this table's watermark are recomputed and replace all of its rows. No
-- lookback needed.
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
