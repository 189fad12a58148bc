{{
    config(
        materialized='incremental',
        incremental_strategy='replace_units',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per conversation (a messenger conversation split at maxDurationInMinutes), dated by
-- the reporting-timezone date of its first session's start.
-- Incremental: strategy replace_units (macros/incremental_units.sql), unique key (organization,
-- bot, conversation_id): the recompute unit, not the row's id (every row of a touched unit is
-- deleted, even when the unit yields none now). The conversations of a messenger conversation with
-- an event ingested after this table's watermark are recomputed and replace all of its rows. No
-- lookback needed.
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
    epoch(conversation_end_at - conversation_start_at) as conversation_duration_seconds,
    session_count,
    user_message_count,
    bot_message_count,
    has_handover,
    has_feedback,
    last_ingested_at
from {{ ref('int_conversations') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
