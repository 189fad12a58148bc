{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='impression_id',
        on_schema_change='fail',
    )
}}
{{ build_after('int_build_scope') }} -- it records the watermarks of the models that follow
-- Every impression with its unique-impression window (`unique_window_hours`): the rules are the
-- docs blocks unique_impression_rule and engagement_rule (models/docs/metric_rules.md).
-- Incremental: strategy delete+insert, unique key impression_id, no lookback. A visitor with an
-- impression or conversation_start ingested after this table's watermark is recomputed from
-- its restart point: its last window opener at or before its earliest new event, in the
-- windows' order (occurred_at, event_id); the whole visitor when no opener precedes it. The
-- windows before that opener cannot change (a window chain depends only on earlier impressions)
-- and no new conversation_start falls in them, so their engagement stands. Every impression
-- from the restart point on is emitted again and replaces its stored row; none disappears in
-- an incremental build (a redelivered copy that changes an event's type, visitor or time forces
-- a full refresh: orchestration/conflicting_copies.py).
-- `events` is read twice in an incremental run (what is new, then the touched units' rows):
-- inlined, each read scans only what it needs instead of a copy of staging.
with events as {{ cte_hint(false) }} (

    select event_id, event_type, organization, bot, visitor_id, channel, page_url, occurred_at,
        last_ingested_at
    from {{ ref('stg_messenger__events') }}
    where event_type in ('impression', 'conversation_start')

),

{% if is_incremental() %}
restarts as (

    -- per touched visitor, the (occurred_at, impression_id) of its restart point (null: whole)
    {{ window_restarts(
        "select organization, bot, visitor_id, min((occurred_at, event_id)) as first_new_at_id
        from events
        where last_ingested_at > " ~ ingest_watermark() ~ "
        group by organization, bot, visitor_id"
    ) }}

),
{% endif %}

scoped as (

    {% if is_incremental() %}
        -- impressions from the restart point on (in window order); conversation starts from its
        -- instant on (a start at the opener's instant engages its window, whatever its id)
        select events.*
        from events
        inner join restarts using (organization, bot, visitor_id)
        where
            restarts.restart_at_id is null
            or (events.occurred_at, events.event_id) >= restarts.restart_at_id
            or (
                events.event_type = 'conversation_start'
                and events.occurred_at >= restarts.restart_at_id[1]
            )
    {% else %}
        select * from events
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
        interval_hours(var('unique_window_hours')),
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
    -- this impression's own newest ingest: what fct_impressions publishes (a rewritten row that
    -- did not change keeps it, so its published date partition stays as it was)
    windows.last_ingested_at as impression_ingested_at,
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
