{#- Incremental recompute units and partitions: the one definition of "what a run touched".

    Unit-keyed models (one row per event, session, conversation, ... of a messenger
    conversation; one row per impression of a visitor) are recomputed per unit: every unit with
    an upstream row ingested after the model's watermark (macro ingest_watermark) is selected
    whole, and the strategy replace_units deletes all of its rows before inserting the new ones,
    so rows that vanish (a late event re-splits sessions or conversations) are deleted.

    Daily marts are recomputed per partition (metric_date, organization, bot): the partitions P
    a run touched are computed once per build, in int_touched_partitions, for the watermark
    each daily mart had when the build started (int_build_scope); the mart's SELECT and the
    strategy replace_partitions (its DELETE) read them from there. The dbt tests of an
    incremental build check only the rows a run rewrote (macro changed_rows_predicate). -#}

{#- The configuration of a unit-keyed incremental model (one unit: a messenger conversation,
    keys organization, bot, conversation_id; or a visitor): strategy replace_units, unique key
    `keys`. The key is the recompute unit, not the row's id: every row of a unit touched since
    the table's watermark is deleted (even when the unit yields none now), and the unit's rows
    are recomputed whole and inserted, so a late event that re-splits a session or conversation,
    or a redelivered copy that renames a goal, leaves no stale row. No lookback needed. -#}
{% macro incremental_per_unit(keys) -%}
    {{ config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_units',
        unique_key=keys,
        on_schema_change='fail',
    ) }}
{%- endmacro %}

{#- The configuration of a daily mart: strategy replace_partitions. The partitions (metric_date,
    organization, bot) a run touched (macro touched_partitions, computed once per build in
    int_touched_partitions) are deleted and recomputed whole from the updated upstream tables.
    No lookback needed. -#}
{% macro incremental_per_partition() -%}
    {{ config(
        materialized=incremental_materialization(),
        incremental_strategy='replace_partitions',
        on_schema_change='fail',
    ) }}
{%- endmacro %}

{#- Builds the calling model after model `name` (a ref seen by the parse only: a unit test of the
    model needs no input for it). -#}
{% macro build_after(name) -%}
    {%- if not execute %}{% do ref(name) %}{% endif %}
{%- endmacro %}

{#- The units (`keys`) with any row of `upstream` ingested after `watermark` (SQL). -#}
{% macro touched_units(upstream, keys, watermark) -%}
    select distinct {{ keys | join(', ') }}
    from {{ upstream }}
    where last_ingested_at > {{ watermark }}
{%- endmacro %}

{#- A semi join keeping the rows of a unit (`keys`) with any row of `upstream` ingested after
    this model's watermark; nothing outside an incremental run. Goes right after a FROM item.
    `upstream` is the unit's source: int_conversation_events for a messenger conversation,
    int_impressions for a visitor. Every model using it runs after int_build_scope (which
    records its watermark before it is rebuilt: the tests of the build read it there). -#}
{% macro only_touched_units(upstream, keys) -%}
    {{- build_after('int_build_scope') }}
    {%- if is_incremental() %}
    semi join (
        {{ touched_units(upstream, keys, ingest_watermark()) }}
    ) as touched_units using ({{ keys | join(', ') }})
    {%- endif %}
{%- endmacro %}

{#- The messenger conversations (organization, bot, conversation_id) a run touched. -#}
{% macro only_touched_conversations(conversation_events) -%}
    {{ only_touched_units(conversation_events, ['organization', 'bot', 'conversation_id']) }}
{%- endmacro %}

{#- The partitions P (metric_date, organization, bot) touched by what was ingested after
    `watermark` (SQL): the reporting-timezone dates of ALL events of the conversations with an
    event ingested after it, and the dates of the impressions whose window or engagement a new
    event can have changed: a visitor's impressions at or after its earliest newly ingested
    impression or conversation start (staging rows after the watermark) less one
    unique-impression window. Anchored windows are a chain from the visitor's first impression,
    so an impression before a new one keeps its window, and a conversation start engages only a
    window opened less than a window before it. (int_impressions rewrites every impression of a
    touched visitor from its restart point; dating a visitor's whole history would put nearly
    every date in P.) Event times never change in an incremental build (a redelivered copy that
    moves one forces a full refresh: orchestration/conflicting_copies.py), so P holds every
    partition a touched unit's changed rows fall in, before and after the run. -#}
{% macro touched_partitions(conversation_events, impressions, staged_events, watermark) -%}
    select distinct {{ to_local_date('occurred_at') }} as metric_date, organization, bot
    from {{ conversation_events }}
    semi join (
        {{ touched_units(conversation_events, ['organization', 'bot', 'conversation_id'], watermark) }}
    ) as touched_units using (organization, bot, conversation_id)
    union
    select distinct {{ to_local_date('impressions.impression_at') }} as metric_date,
        impressions.organization, impressions.bot
    from {{ impressions }} as impressions
    inner join (
        select organization, bot, visitor_id, min(occurred_at) as first_new_at
        from {{ staged_events }}
        where
            event_type in ('impression', 'conversation_start')
            and last_ingested_at > {{ watermark }}
        group by organization, bot, visitor_id
    ) as new_events
        on
            impressions.organization = new_events.organization
            and impressions.bot = new_events.bot
            and impressions.visitor_id = new_events.visitor_id
    where
        impressions.impression_at
        >= new_events.first_new_at - {{ interval_hours(var('unique_window_hours')) }}
{%- endmacro %}

{#- The incremental models int_build_scope records (every one but those it is built from or
    after: staging and the two models P is computed from), as graph nodes; only at execution
    (none in a unit test, which sees no graph). -#}
{% macro scope_models() -%}
    {%- set found = [] %}
    {%- for node in (graph.get('nodes') or {}).values() %}
        {%- if node.resource_type == 'model' and node.config.materialized == 'incremental'
            and node.name not in ('stg_messenger__events', 'int_conversation_events', 'int_impressions') %}
            {%- do found.append(node) %}
        {%- endif %}
    {%- endfor %}
    {{ return(found) }}
{%- endmacro %}

{#- Whether a scope whose ingested_through is `through_sql` was taken from the staged events as
    they are now (not left from an earlier build): SQL, only at execution. -#}
{% macro scope_is_current(through_sql) -%}
    {{ through_sql }} is not distinct from (
        select max(last_ingested_at) from {{ model_relation('stg_messenger__events') }}
    )
{%- endmacro %}

{#- This build's scope for `model_name` (a row of int_build_scope), as a dict:
    `ingested_after` (a SQL timestamp literal, none when the model was missing or fully
    refreshed: then it is rebuilt whole) and `is_current`: the scope was taken from the staged
    events as they are now and, with `check_watermark`, the model's watermark (if it has rows)
    is still the one recorded. None when int_build_scope has no row for the model. Only at execution. -#}
{% macro build_scope(model_name, check_watermark=false) -%}
    {%- set query -%}
        select
            strftime(scope.ingested_after, '%Y-%m-%d %H:%M:%S.%f') as ingested_after,
            {{ scope_is_current('scope.ingested_through') }}
            {%- if check_watermark %}
            and coalesce(
                (select max(last_ingested_at) from {{ this }}) = scope.ingested_after, true
            )
            {%- endif %} as is_current
        from {{ model_relation('int_build_scope') }} as scope
        where scope.model_name = '{{ model_name }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows %}
    {%- if rows | length == 0 %}{{ return(none) }}{% endif %}
    {%- set after = rows[0][0] %}
    {{ return({
        'ingested_after': ("timestamp '" ~ after ~ "'") if after is not none else none,
        'is_current': rows[0][1],
    }) }}
{%- endmacro %}

{#- The watermark a daily mart's P is read for in this incremental run: the scope's, checked to
    be current (int_build_scope and int_touched_partitions built in this run, for this table as
    it is); none when the scope has none (it is rebuilt whole). A selection that rebuilds a
    daily mart without the scope fails here rather than miss a partition. -#}
{% macro partitions_watermark() -%}
    {%- set scope = build_scope(this.identifier, check_watermark=true) %}
    {%- if scope is none or not scope.is_current %}
        {{ exceptions.raise_compiler_error(
            this.identifier ~ " is built incrementally from the partitions this run touched, which "
            ~ "int_build_scope and int_touched_partitions record: select them too "
            ~ "(dbt build --select +" ~ this.identifier ~ "), or run a full refresh."
        ) }}
    {%- endif %}
    {{ return(scope.ingested_after) }}
{%- endmacro %}

{#- The CTE `touched_partitions` of a daily mart in an incremental run (P, read from
    int_touched_partitions), with a trailing comma; nothing in a full refresh, nor when the
    table was empty. -#}
{% macro touched_partitions_cte() -%}
    {{- build_after('int_touched_partitions') }}
    {%- if is_incremental() and execute %}
        {%- set watermark = partitions_watermark() %}
        {%- if watermark is not none %}
    touched_partitions as {{ cte_hint(true) }} (
        select metric_date, organization, bot
        from {{ ref('int_touched_partitions') }}
        where ingested_after = {{ watermark }}
    ),
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{#- Whether a row dated `date_sql` (with unqualified organization and bot) is in a touched
    partition; true in a full refresh (or when the table was empty). With `at`, the UTC
    timestamp the date comes from, a cheap range test on it runs first (a local date is within
    a day of its UTC timestamp), so the time zone conversion runs only on rows near P's dates. -#}
{% macro in_touched_partitions(date_sql, at=none) -%}
    {%- if is_incremental() and execute and partitions_watermark() is not none -%}
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
    reach (a conversation start moved to another day). P is the one the model's SELECT read,
    from int_touched_partitions for the table's watermark (unchanged until this DELETE); every
    row when the table was empty. -#}
{% macro get_incremental_replace_partitions_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- set watermark = partitions_watermark() -%}
    delete from {{ target }} as target_rows
    {%- if watermark is not none %}
    using (
        select metric_date, organization, bot
        from {{ ref('int_touched_partitions') }}
        where ingested_after = {{ watermark }}
    ) as touched
    where
        target_rows.metric_date = touched.metric_date
        and target_rows.organization = touched.organization
        and target_rows.bot = touched.bot
    {%- endif %};

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
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }} as target_rows
    using (
        {{ touched_units(unit_upstream(keys), keys, ingest_watermark()) }}
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

{#- Where a unit key's touched units are read: int_impressions for a visitor, else
    int_conversation_events. -#}
{% macro unit_upstream(keys) -%}
    {{ return(model_relation('int_impressions' if 'visitor_id' in keys else 'int_conversation_events')) }}
{%- endmacro %}

{#- The relation of this project's model `name`, from the graph: usable at execution where ref()
    is not (a data test may read only the relations it depends on). Every model calling it also
    refs what it reads, so that dbt orders them. -#}
{% macro model_relation(name) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] %}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias, type='table')) }}
{%- endmacro %}

{#- Checks on what changed: for a data test's relation in an incremental `dbt build`, a
    predicate keeping the rows the build rewrote (none: test every row). Read from the build's
    scope (int_build_scope: each model's watermark before the build), by the model's recompute
    unit: a daily mart's rows in P; a unit-keyed model's rows of the units touched since its
    watermark; a row-keyed model (int_impressions: every row it rewrites carries the new ingest)
    its rows ingested since. int_conversation_events and int_impressions are built after the
    scope but not recorded in it: they are checked from the earliest watermark it recorded, a
    lower bound of theirs (new rows carry an ingest later than every stored row). Staging is
    tested before the scope is rebuilt: it is checked from the previous scope's ingested_through,
    the newest staged ingest then (staged ingests only grow). Keys stay unique over the whole
    table by construction: each strategy deletes every stored row of a key (an event,
    impression or unit; a partition, whose columns lead every daily mart's key) before inserting
    the rows checked here. A full refresh, another command than build (`dbt test` checks every
    row), a scope that is not current, or a model the scope has no watermark for tests every
    row. -#}
{% macro changed_rows_predicate(relation) -%}
    {%- if not execute or flags.FULL_REFRESH or flags.WHICH != 'build' %}
        {{ return(none) }}
    {%- endif %}
    {%- set matches = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('alias', 'equalto', relation.identifier)
        | selectattr('schema', 'equalto', relation.schema)
        | list %}
    {%- if matches | length != 1 or matches[0].config.materialized != 'incremental' %}
        {{ return(none) }}
    {%- endif %}
    {%- set node = matches[0] %}
    {%- set scope_relation = model_relation('int_build_scope') %}
    {%- if adapter.get_relation(
        database=scope_relation.database, schema=scope_relation.schema,
        identifier=scope_relation.identifier) is none %}
        {{ return(none) }}
    {%- endif %}
    {%- if node.name == 'stg_messenger__events' %}
        {%- set through = run_query(
            "select strftime(max(ingested_through), '%Y-%m-%d %H:%M:%S.%f') from "
            ~ scope_relation).rows[0][0] %}
        {{ return(none if through is none else "last_ingested_at > timestamp '" ~ through ~ "'") }}
    {%- endif %}
    {%- set scope = build_scope(node.name) %}
    {%- if scope is none %}
        {%- set scope = earliest_scope() %}
    {%- endif %}
    {%- if scope is none or not scope.is_current or scope.ingested_after is none %}
        {{ return(none) }}
    {%- endif %}
    {%- set keys = node.config.unique_key if node.config.unique_key is not string
        else [node.config.unique_key] %}
    {%- if node.config.incremental_strategy == 'replace_partitions' %}
        {{ return("(metric_date, organization, bot) in (select metric_date, organization, bot from "
            ~ model_relation('int_touched_partitions') ~ " where ingested_after = "
            ~ scope.ingested_after ~ ")") }}
    {%- elif 'conversation_id' in keys or 'visitor_id' in keys %}
        {{ return("(" ~ keys | join(', ') ~ ") in (" ~ touched_units(
            unit_upstream(keys), keys, scope.ingested_after) ~ ")") }}
    {%- else %}
        {{ return("last_ingested_at > " ~ scope.ingested_after) }}
    {%- endif %}
{%- endmacro %}

{#- The scope of the models built before int_build_scope: the earliest watermark it recorded.
    New rows carry an ingest later than every stored row, so
    any model's watermark bounds theirs from below. -#}
{% macro earliest_scope() -%}
    {%- set query -%}
        select
            strftime(min(ingested_after), '%Y-%m-%d %H:%M:%S.%f'),
            bool_and({{ scope_is_current('ingested_through') }})
        from {{ model_relation('int_build_scope') }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] %}
    {%- if row[0] is none %}{{ return(none) }}{% endif %}
    {{ return({'ingested_after': "timestamp '" ~ row[0] ~ "'", 'is_current': row[1]}) }}
{%- endmacro %}

{#- dbt's generic tests read their model through this macro (dbt's own applies the test's
    `where` config): here it also keeps the rows an incremental build rewrote. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') %}
    {%- set changed = changed_rows_predicate(relation) %}
    {%- if where or changed %}
        {%- set filters = [] %}
        {%- if where %}{% do filters.append('(' ~ where ~ ')') %}{% endif %}
        {%- if changed %}{% do filters.append(changed) %}{% endif %}
        {#- the alias: Spark would read "<table> where (...)" as an alias `where` with columns -#}
        {%- do return("(select * from " ~ relation ~ " as dbt_tested where "
            ~ filters | join(' and ') ~ ") dbt_subquery") %}
    {%- else %}
        {%- do return(relation) %}
    {%- endif %}
{%- endmacro %}
