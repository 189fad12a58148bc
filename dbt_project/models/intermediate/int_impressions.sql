{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['organization', 'bot', 'visitor_id'],
        on_schema_change='fail',
    )
}}
-- Every impression with its unique-impression window (`unique_window_hours`): the rules are the
-- docs blocks unique_impression_rule and engagement_rule (models/docs/metric_rules.md).
-- Incremental: strategy delete+insert, unique key (organization, bot, visitor_id). A visitor
-- with an impression or conversation_start ingested after this table's watermark is recomputed
-- whole (all of its windows); no lookback needed.
with events as (

    select event_id, event_type, organization, bot, visitor_id, channel, page_url, occurred_at,
        last_ingested_at
    from {{ ref('stg_messenger__events') }}
    where event_type in ('impression', 'conversation_start')

),

scoped as (

    select * from events
    {% if is_incremental() %}
        semi join (
            select distinct organization, bot, visitor_id
            from events
            where last_ingested_at > {{ ingest_watermark() }}
        ) as touched using (organization, bot, visitor_id)
    {% endif %}

),

impressions as (

    select * from scoped where event_type = 'impression'

),

windows as (

    -- partitioned visitor first: the same partitions, a cheaper sort (the UUID tells rows apart)
    {{ anchored_windows(
        'impressions',
        ['visitor_id', 'organization', 'bot'],
        'occurred_at',
        'event_id',
        "to_hours(cast(" ~ var('unique_window_hours') ~ " as bigint))",
    ) }}

),

engaged_windows as (

    select distinct windows.window_opener_id
    from windows
    inner join scoped as starts
        on
            windows.organization = starts.organization
            and windows.bot = starts.bot
            and windows.visitor_id = starts.visitor_id
            and starts.occurred_at >= windows.window_start_at
            and starts.occurred_at < windows.window_end_at
    where windows.is_window_opener and starts.event_type = 'conversation_start'

)

select
    windows.event_id as impression_id,
    windows.organization,
    windows.bot,
    windows.visitor_id,
    windows.channel,
    windows.page_url,
    windows.occurred_at as impression_at,
    windows.is_window_opener as is_unique,
    windows.window_opener_id as unique_impression_id,
    windows.window_start_at,
    windows.window_end_at,
    windows.is_window_opener and engaged_windows.window_opener_id is not null
        as is_engaged_unique,
    -- the visitor's newest ingest (impressions and conversation starts): the next watermark
    scoped_max.last_ingested_at
from windows
left join engaged_windows
    on windows.window_opener_id = engaged_windows.window_opener_id
left join (
    select organization, bot, visitor_id, max(last_ingested_at) as last_ingested_at
    from scoped
    group by organization, bot, visitor_id
) as scoped_max
    on
        windows.organization = scoped_max.organization
        and windows.bot = scoped_max.bot
        and windows.visitor_id = scoped_max.visitor_id
