{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per conversation and KPI use case it started, with its outcome; dated by the
-- conversation's start.
-- Incremental per messenger conversation (macro incremental_per_unit).
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
