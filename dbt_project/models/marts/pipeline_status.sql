-- Freshness and data quality per delivery day, for the Configuration dashboard: what each
-- day's landing files brought, what was rejected (lines, and files that could not be read),
-- when this warehouse was built and published.
with accepted as (

    select
        delivery_date,
        count(*) as events_accepted,
        min(occurred_at) as oldest_event_at,
        max(occurred_at) as newest_event_at,
        max(ingested_at) as last_ingested_at
    from {{ ref('stg_messenger__events') }}
    group by delivery_date

),

rejected as (

    select
        delivery_date,
        count(*) as lines_rejected
    from {{ ref('stg_messenger__rejected_lines') }}
    group by delivery_date

),

unreadable as (

    select
        delivery_date,
        count(*) as files_rejected,
        cast(sum(estimated_lines) as bigint) as lines_in_rejected_files,
        {{ ordered_string_agg("source_file || ': ' || reason", "'; '", 'source_file') }} as rejected_files
    from {{ ref('stg_messenger__rejected_files') }}
    group by delivery_date

)

select
    delivery_date,
    coalesce(accepted.events_accepted, 0) as events_accepted,
    coalesce(rejected.lines_rejected, 0) as lines_rejected,
    coalesce(rejected.lines_rejected, 0)
    + coalesce(accepted.events_accepted, 0) as lines_checked,
    coalesce(unreadable.files_rejected, 0) as files_rejected,
    coalesce(unreadable.lines_in_rejected_files, 0) as lines_in_rejected_files,
    unreadable.rejected_files,
    accepted.oldest_event_at,
    accepted.newest_event_at,
    accepted.last_ingested_at,
    {{ utc_now() }} as built_at,
    -- filled in the published copy by the publish step (orchestration/publish.py)
    cast(null as timestamp) as last_published_at
from accepted
full outer join rejected using (delivery_date)
full outer join unreadable using (delivery_date)
