{#- Incremental recompute units and partitions: the one definition of "what a run touched".

    Unit-keyed models (one row per event, session, conversation, ... of a messenger
    conversation; one row per impression of a visitor) are recomputed per unit: every unit with
    an upstream row ingested after the model's watermark (macro ingest_watermark) is selected
    whole, and the strategy replace_units deletes all of its rows before inserting the new ones,
    so rows that vanish (a late event re-splits sessions or conversations) are deleted.

    Daily marts are recomputed per partition (metric_date, organization, bot): see
    touched_partitions and the strategy replace_partitions below. -#}

{#- A semi join keeping the rows of a unit (`keys`) with any row of `upstream` ingested after
    this model's watermark; nothing outside an incremental run. Goes right after a FROM item.
    `upstream` is the unit's source: int_conversation_events for a messenger conversation,
    int_impressions for a visitor. -#}
{% macro only_touched_units(upstream, keys) -%}
    {%- if is_incremental() %}
    semi join (
        select distinct {{ keys | join(', ') }}
        from {{ upstream }}
        where last_ingested_at > {{ ingest_watermark() }}
    ) as touched_units using ({{ keys | join(', ') }})
    {%- endif %}
{%- endmacro %}

{#- The messenger conversations (organization, bot, conversation_id) a run touched. -#}
{% macro only_touched_conversations(conversation_events) -%}
    {{ only_touched_units(conversation_events, ['organization', 'bot', 'conversation_id']) }}
{%- endmacro %}

{#- The partitions P (metric_date, organization, bot) a run touched: the reporting-timezone dates
    of ALL events of the conversations with an event ingested after this model's watermark, and
    the dates of the impressions whose window or engagement a new event can have changed: a
    visitor's impressions at or after its earliest newly ingested impression or conversation
    start (staging rows after the watermark) less one unique-impression window. Anchored windows
    are a chain from the visitor's first impression, so an impression before a new one keeps its
    window, and a conversation start engages only a window opened less than a window before it.
    (int_impressions rewrites every impression of a touched visitor; dating them all would put
    a returning visitor's whole history, i.e. nearly every date, in P.) Event times never change
    in an incremental build (a redelivered copy that moves one forces a full refresh:
    orchestration/conflicting_copies.py), so P holds every partition a touched unit's changed
    rows fall in, before and after the run. Used twice with the same watermark: by the model's
    SELECT and by the strategy's DELETE, which runs before the insert. -#}
{% macro touched_partitions(conversation_events, impressions, staged_events) -%}
    select distinct {{ to_local_date('occurred_at') }} as metric_date, organization, bot
    from {{ conversation_events }}
    {{ only_touched_conversations(conversation_events) }}
    union
    select distinct {{ to_local_date('impressions.impression_at') }} as metric_date,
        impressions.organization, impressions.bot
    from {{ impressions }} as impressions
    inner join (
        select organization, bot, visitor_id, min(occurred_at) as first_new_at
        from {{ staged_events }}
        where
            event_type in ('impression', 'conversation_start')
            and last_ingested_at > {{ ingest_watermark() }}
        group by organization, bot, visitor_id
    ) as new_events
        on
            impressions.organization = new_events.organization
            and impressions.bot = new_events.bot
            and impressions.visitor_id = new_events.visitor_id
    where
        impressions.impression_at
        >= new_events.first_new_at - to_hours(cast({{ var('unique_window_hours') }} as bigint))
{%- endmacro %}

{#- The CTE `touched_partitions` (materialized once) of a daily mart in an incremental run, with
    a trailing comma; nothing in a full refresh. -#}
{% macro touched_partitions_cte() -%}
    {%- if is_incremental() %}
    touched_partitions as materialized (
        {{ touched_partitions(
            ref('int_conversation_events'), ref('int_impressions'), ref('stg_messenger__events')
        ) }}
    ),
    {%- endif %}
{%- endmacro %}

{#- Whether a row dated `date_sql` (with unqualified organization and bot) is in a touched
    partition; true in a full refresh. With `at`, the UTC timestamp the date comes from, a cheap
    range test on it runs first (a local date is within a day of its UTC timestamp), so the
    time zone conversion runs only on rows near P's dates. -#}
{% macro in_touched_partitions(date_sql, at=none) -%}
    {%- if is_incremental() -%}
        {%- if at is not none %}
        {{ at }} >= (
            select cast(min(metric_date) as timestamp) - interval 1 day from touched_partitions
        )
        and {{ at }} < (
            select cast(max(metric_date) as timestamp) + interval 2 day from touched_partitions
        )
        and
        {%- endif %}
        ({{ date_sql }}, organization, bot) in (
            select metric_date, organization, bot from touched_partitions
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Incremental strategy `replace_partitions` (config incremental_strategy='replace_partitions'):
    delete every target row whose (metric_date, organization, bot) is in P, then insert the new
    rows. Unlike delete+insert on a key, this also empties a partition the new rows no longer
    reach (a conversation start moved to another day). P is recomputed here by the same macro as
    in the model's SELECT; the target is unchanged until this DELETE, so the watermark is the
    same value both times. -#}
{% macro get_incremental_replace_partitions_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }} as target_rows
    using (
        {{ touched_partitions(
            ref('int_conversation_events'), ref('int_impressions'), ref('stg_messenger__events')
        ) }}
    ) as touched
    where
        target_rows.metric_date = touched.metric_date
        and target_rows.organization = touched.organization
        and target_rows.bot = touched.bot;

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}

{#- Incremental strategy `replace_units` for the unit-keyed models (config unique_key = the unit:
    organization, bot and conversation_id or visitor_id): delete every target row of a unit the
    run touched (the same units as only_touched_units in the model's SELECT: rows of
    int_conversation_events, or of int_impressions for a visitor key, ingested after the
    watermark), then insert the new rows. dbt's delete+insert deletes only the units present in
    the new rows, so a touched unit that no longer yields any row (a redelivered copy that wins
    and renames a goal, say) would keep stale rows; this strategy cannot. The target is unchanged
    until this DELETE, so the watermark is the one the SELECT read. -#}
{% macro get_incremental_replace_units_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set keys = arg_dict["unique_key"] -%}
    {%- set upstream = ref('int_impressions') if 'visitor_id' in keys
        else ref('int_conversation_events') -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }} as target_rows
    using (
        select distinct {{ keys | join(', ') }}
        from {{ upstream }}
        where last_ingested_at > {{ ingest_watermark() }}
    ) as touched_units
    where
        {%- for key in keys %}
        target_rows.{{ key }} = touched_units.{{ key }}{{ " and" if not loop.last }}
        {%- endfor %};

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}
