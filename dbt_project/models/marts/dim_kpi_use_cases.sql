-- The configured KPI use cases with their goals, bucket metrics and business hours, for the
-- Configuration dashboard.
with buckets as (

    select
        dashboard,
        use_case,
        {{ ordered_string_agg("metric || ' (goal ' || goal || ')'", "'; '", 'metric') }} as bucket_metrics
    from {{ ref('int_kpi_bucket_metrics') }}
    group by dashboard, use_case

),

hours as (

    select
        dashboard,
        {%- set weekdays = ["'Mon'", "'Tue'", "'Wed'", "'Thu'", "'Fri'", "'Sat'", "'Sun'"] %}
        {{ ordered_string_agg(
            list_item(list_of(weekdays), 'isodow')
            ~ " || ' ' || lpad(cast(start_hour as string), 2, '0')"
            ~ " || '-' || lpad(cast(end_hour as string), 2, '0')",
            "', '",
            'isodow, start_hour',
        ) }} as business_hours
    from {{ ref('int_business_hours') }}
    group by dashboard

)

select
    use_cases.dashboard,
    use_cases.dashboard_title,
    use_cases.bot,
    use_cases.use_case,
    use_cases.kind,
    use_cases.start_goal,
    use_cases.success_goal,
    use_cases.failure_goal,
    buckets.bucket_metrics,
    hours.business_hours
from {{ ref('int_kpi_use_cases') }} as use_cases
left join buckets
    on use_cases.dashboard = buckets.dashboard and use_cases.use_case = buckets.use_case
left join hours on use_cases.dashboard = hours.dashboard
