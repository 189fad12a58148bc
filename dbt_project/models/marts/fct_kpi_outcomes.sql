{{
    config(
        materialized='incremental',
        incremental_strategy='replace_units',
        unique_key=['organization', 'bot', 'conversation_id'],
        on_schema_change='fail',
    )
}}
-- One row per conversation and KPI use case it started, with its outcome; dated by the
-- conversation's start.
-- Incremental: strategy replace_units (macros/incremental_units.sql), unique key (organization,
-- bot, conversation_id): the recompute unit, not the row's id (every row of a touched unit is
-- deleted, even when the unit yields none now). The KPI outcomes of a messenger conversation with
-- an event ingested after this table's watermark are recomputed and replace all of its rows. No
-- lookback needed.
select
    md5(concat_ws('|', conversation_key, dashboard, use_case)) as kpi_outcome_id,
    conversation_key,
    organization,
    bot,
    dashboard,
    dashboard_title,
    use_case,
    kind,
    conversation_start_at,
    {{ to_local_date('conversation_start_at') }} as conversation_date,
    outcome,
    is_business_hours,
    conversation_id,
    last_ingested_at
from {{ ref('int_kpi_outcomes') }}
{{ only_touched_conversations(ref('int_conversation_events')) }}
