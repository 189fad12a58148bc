{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key=['impression_id', 'window_hours'],
        on_schema_change='fail',
    )
}}
{{ build_after('int_build_scope') }} -- it records the watermarks of the models that follow
-- Every impression's unique-impression window for each candidate window other than the
-- configured one (var sensitivity_unique_window_hours; the configured window is int_impressions'
-- own): what config_sensitivity_daily counts. The rule is the docs block unique_impression_rule,
-- with the same anchored_windows macro as int_impressions and the candidate as one more
-- partition key.
-- Incremental: strategy delete+insert, unique key (impression_id, window_hours), no lookback. A
-- visitor with an impression ingested after this table's watermark is recomputed, per
-- candidate, from its last window opener at or before its earliest new impression, in the
-- windows' order (impression_at, impression_id); the whole visitor when no opener precedes it.
-- A window chain depends only on earlier impressions, so the windows before that opener stand.
-- Conversation starts do not matter here (no engagement). Impressions never disappear in an
-- incremental build (orchestration/conflicting_copies.py forces a full refresh otherwise).
{%- set configured_hours = var('unique_window_hours') | int %}
{%- set windows = var('sensitivity_unique_window_hours') | map('int') | unique | sort %}
{%- set other_windows = windows | reject('equalto', configured_hours) | list %}

with impressions as {{ cte_hint(false) }} (

    select
        impression_id,
        organization,
        bot,
        visitor_id,
        impression_at,
        impression_ingested_at
    from {{ ref('int_impressions') }}

),

candidates as (

    -- none when the configured window is the only candidate
    select cast(window_hours as integer) as window_hours
    from (select {{ unnest_list(list_of(other_windows)) }} as window_hours)

),

{% if is_incremental() %}
restarts as (

    -- per touched visitor and candidate, the (impression_at, impression_id) of its restart
    -- point (null: the whole visitor)
    {{ window_restarts(
        "select organization, bot, visitor_id, window_hours, first_new_at_id
        from (
            select organization, bot, visitor_id,
                min((impression_at, impression_id)) as first_new_at_id
            from impressions
            where impression_ingested_at > " ~ ingest_watermark() ~ "
            group by organization, bot, visitor_id
        ) cross join candidates",
        ['window_hours'],
    ) }}

),
{% endif %}

scoped as (

    select impressions.*, candidates.window_hours
    from impressions
    cross join candidates
    {%- if is_incremental() %}
    inner join restarts
        on
            impressions.organization = restarts.organization
            and impressions.bot = restarts.bot
            and impressions.visitor_id = restarts.visitor_id
            and candidates.window_hours = restarts.window_hours
    where
        restarts.restart_at_id is null
        or (impressions.impression_at, impressions.impression_id) >= restarts.restart_at_id
    {%- endif %}

),

windows as (

    {{ anchored_windows(
        'scoped',
        ['visitor_id', 'organization', 'bot', 'window_hours'],
        'impression_at',
        'impression_id',
        interval_hours('window_hours'),
    ) }}

)

select
    impression_id,
    window_hours,
    organization,
    bot,
    visitor_id,
    impression_at,
    is_window_opener as is_unique,
    -- the newest impression ingest among the rows recomputed with it: the next watermark
    max(impression_ingested_at) over (
        partition by visitor_id, organization, bot, window_hours
    ) as last_ingested_at
from windows
