-- One row per conversation and KPI use case it started, with its outcome; dated by the
-- conversation's start.
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
    is_business_hours
from {{ ref('int_kpi_outcomes') }}
