{{ incremental_per_partition() }}
-- What a setting would change: for the current data, the sessions there would be with each
-- candidate inactivity timeout, and the unique impressions with each candidate window, per
-- reporting-timezone day, organization and bot. The configured value is always a candidate.
-- The numbers are what a build with that setting gives: sessions are counted with the same
-- opening rule as int_conversation_events (macro opens_session) and dated like fct_sessions
-- (the opening event's local date); unique impressions are dated like fct_impressions, the
-- configured window's from int_impressions, the other candidates' from int_candidate_impressions
-- (the same anchored_windows macro, kept incrementally).
-- Cost: one window pass (lag per conversation) over user-side events for every timeout, then a
-- filtered count per timeout; a filtered count of the stored windows per candidate.
-- Incremental per touched partition (macro incremental_per_partition): sessions from every
-- user-side event of the conversations with one in a touched partition (a session is dated by
-- its opening event, whose predecessor is in the same conversation); unique impressions from
-- the touched partitions' rows of int_impressions and int_candidate_impressions.
{%- set configured_minutes = var('session_inactivity_minutes') | int %}
{%- set configured_hours = var('unique_window_hours') | int %}
{%- set timeouts = var('sensitivity_inactivity_minutes') | map('int') | list %}
{%- set timeouts = (timeouts + [configured_minutes]) | unique | sort %}

with {{ touched_partitions_cte() }}

{%- if is_incremental() %}

partition_conversations as (

    select distinct organization, bot, conversation_id
    from {{ ref('int_conversation_events') }}
    where is_user_side and {{ in_touched_partitions(to_local_date('occurred_at'), 'occurred_at') }}

),

{%- endif %}

user_activity as (

    select
        organization,
        bot,
        occurred_at,
        last_ingested_at,
        lag(occurred_at) over (
            partition by conversation_id, organization, bot
            order by occurred_at, event_id
        ) as previous_user_activity_at
    from {{ ref('int_conversation_events') }}
    {%- if is_incremental() %}
    semi join partition_conversations using (organization, bot, conversation_id)
    {%- endif %}
    where is_user_side

),

sessions_wide as (

    -- a session is dated by its opening event (fct_sessions.session_date)
    select
        {{ to_local_date('occurred_at') }} as metric_date,
        organization,
        bot,
        {%- for minutes in timeouts %}
        count(*) filter (
            where {{ opens_session('occurred_at', 'previous_user_activity_at', minutes) }}
        ) as sessions_{{ minutes }},
        {%- endfor %}
        max(last_ingested_at) as last_ingested_at
    from user_activity
    where {{ in_touched_partitions(to_local_date('occurred_at'), 'occurred_at') }}
    group by all

),

sessions as (

    select
        metric_date,
        organization,
        bot,
        'policies.userSession.expireOnInactivityInMinutes' as setting_key,
        cast(replace(candidate, 'sessions_', '') as integer) as candidate_value,
        metric_value,
        last_ingested_at
    from sessions_wide
    unpivot (
        metric_value for candidate in (
            {% for minutes in timeouts %}sessions_{{ minutes }}{{ ", " if not loop.last }}{% endfor %}
        )
    )

),

configured_unique_impressions as (

    -- the configured window: the build's own windows (fct_impressions.is_unique)
    select
        {{ to_local_date('impression_at') }} as metric_date,
        organization,
        bot,
        'impressions.uniqueWindowHours' as setting_key,
        {{ configured_hours }} as candidate_value,
        count(*) filter (where is_unique) as metric_value,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('int_impressions') }}
    where {{ in_touched_partitions(to_local_date('impression_at'), 'impression_at') }}
    group by all

),

candidate_unique_impressions as (

    -- the other candidates (none when the configured window is the only one)
    select
        {{ to_local_date('impression_at') }} as metric_date,
        organization,
        bot,
        'impressions.uniqueWindowHours' as setting_key,
        window_hours as candidate_value,
        count(*) filter (where is_unique) as metric_value,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('int_candidate_impressions') }}
    where {{ in_touched_partitions(to_local_date('impression_at'), 'impression_at') }}
    group by all

),

counts as (

    select * from sessions
    union all
    select * from configured_unique_impressions
    union all
    select * from candidate_unique_impressions

)

select
    counts.metric_date,
    counts.organization,
    counts.bot,
    counts.setting_key,
    settings.setting,
    settings.unit,
    settings.metric,
    cast(counts.candidate_value as integer) as candidate_value,
    settings.configured_value,
    counts.candidate_value = settings.configured_value as is_configured,
    cast(counts.metric_value as bigint) as metric_value,
    -- the configured candidate's number on the same row key: a date range's change is
    -- sum(metric_value) / sum(configured_metric_value) - 1
    cast(max(case when counts.candidate_value = settings.configured_value then counts.metric_value end)
        over (partition by counts.metric_date, counts.organization, counts.bot, counts.setting_key)
        as bigint) as configured_metric_value,
    counts.last_ingested_at
from counts
inner join (
    values
    ('policies.userSession.expireOnInactivityInMinutes', 'Session inactivity timeout', 'minutes',
     'sessions', {{ configured_minutes }}),
    ('impressions.uniqueWindowHours', 'Unique impression window', 'hours',
     'unique_impressions', {{ configured_hours }})
) as settings (setting_key, setting, unit, metric, configured_value)
    on counts.setting_key = settings.setting_key
