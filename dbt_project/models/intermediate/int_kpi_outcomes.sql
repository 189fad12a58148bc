{{ incremental_per_unit(['organization', 'bot', 'conversation_id']) }}
-- One row per conversation and KPI use case it started, with its outcome and whether it started
-- in business hours (docs blocks kpi_outcome_rule and business_hours_rule).
-- Incremental per messenger conversation (macro incremental_per_unit): a late event can re-split
-- the conversation or change a goal.
with use_cases as (

    select * from {{ ref('int_kpi_use_cases') }}

),

conversations as (

    select * from {{ ref('int_conversations') }}
    {{ only_touched_conversations(ref('int_conversation_events')) }}

),

goals as (

    select * from {{ ref('int_conversation_goals') }}
    {{ only_touched_conversations(ref('int_conversation_events')) }}

),

started as (

    select
        conversations.conversation_key,
        conversations.organization,
        conversations.bot,
        conversations.conversation_id,
        conversations.conversation_start_at,
        conversations.last_ingested_at,
        use_cases.dashboard,
        use_cases.dashboard_title,
        use_cases.use_case,
        use_cases.kind,
        use_cases.success_goal,
        use_cases.failure_goal
    from use_cases
    inner join conversations on use_cases.bot = conversations.bot
    inner join goals
        on
            conversations.conversation_key = goals.conversation_key
            and use_cases.start_goal = goals.goal_name

),

reached as (

    select
        started.conversation_key,
        started.dashboard,
        started.use_case,
        bool_or(goals.goal_name = started.success_goal) as has_success,
        bool_or(goals.goal_name = started.failure_goal) as has_failure
    from started
    inner join goals on started.conversation_key = goals.conversation_key
    group by started.conversation_key, started.dashboard, started.use_case

),

local_start as (

    select
        *,
        {{ to_local_timestamp('conversation_start_at') }} as conversation_start_local
    from started

),

hours as (

    select
        local_start.conversation_key,
        local_start.dashboard,
        local_start.use_case,
        case
            when not exists (
                select 1 from {{ ref('int_business_hours') }} as configured
                where configured.dashboard = local_start.dashboard
            ) then null
            else coalesce(bool_or(
                hour(local_start.conversation_start_local) >= business_hours.start_hour
                and hour(local_start.conversation_start_local) < business_hours.end_hour
            ), false)
        end as is_business_hours
    from local_start
    left join {{ ref('int_business_hours') }} as business_hours
        on
            local_start.dashboard = business_hours.dashboard
            and {{ iso_weekday('local_start.conversation_start_local') }} = business_hours.isodow
    group by local_start.conversation_key, local_start.dashboard, local_start.use_case
)

select
    started.conversation_key,
    started.organization,
    started.bot,
    started.dashboard,
    started.dashboard_title,
    started.use_case,
    started.kind,
    started.conversation_start_at,
    case
        when reached.has_success then 'success'
        when reached.has_failure then 'failure'
        else 'abandoned'
    end as outcome,
    hours.is_business_hours,
    started.conversation_id,
    -- the conversation's newest ingest (its goals are its events)
    started.last_ingested_at
from started
inner join reached using (conversation_key, dashboard, use_case)
inner join hours using (conversation_key, dashboard, use_case)
