{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per conversation (a messenger conversation split at maxDurationInMinutes), dated by
-- the reporting-timezone date of its first session's start.
-- Incremental: strategy delete+insert, unique key (organization, bot, conversation_id): the
-- recompute unit, not the row's id. The conversations of a messenger conversation with an event
-- ingested after this table's watermark are recomputed and replace all of its rows. No
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
