{#- Anchored windows: per partition, ordered by (at, id), the first row opens a window of
    `window_sql`; later rows inside it (at < opener's at + window) belong to it; the first row
    at or after the window's end opens the next window. This is a chain, not "gap since the
    previous row", so in general it is resolved by following pointers; most rows need none:

    1. a row at least one window after its predecessor always opens a window, which cuts each
       partition into independent segments (bounded chains even for a device with thousands of
       rows: a segment needs a row at least every window);
    2. a row less than one window after its segment's first row belongs to the window that the
       segment's first row opens: this settles every row of a segment that fits in one window,
       and the first window of every other segment (two window passes, no join);
    3. the rest, rows at or after the end of their segment's first window (a suffix of a segment
       that spans more than one window), are chained: each gets a pointer to the first row at or
       after its own window's end (a window function over rows merged with window-end probes;
       DuckDB has no ASOF join in a recursive query), a recursive CTE follows the pointers from
       each suffix's first row (those are the openers), and every row belongs to the latest
       opener at or before it. The pointers are materialized once, not re-derived per step.

    `id` must be unique within a partition and not null. Returns every input column plus
    `window_opener_id` (the `id` of the row that opened the row's window), `window_start_at`,
    `window_end_at` and `is_window_opener`. -#}
{% macro anchored_windows(relation, partition_by, at, id, window_sql) -%}
    {{ return(adapter.dispatch('anchored_windows')(relation, partition_by, at, id, window_sql)) }}
{%- endmacro %}

{% macro default__anchored_windows(relation, partition_by, at, id, window_sql) %}
    {%- set keys = partition_by | join(', ') -%}
    {%- set chain_keys = partition_by + ['_aw_segment_at'] -%}
    with recursive _aw_previous as (

        select
            *,
            lag({{ at }}) over (partition by {{ keys }} order by {{ at }}, {{ id }}) as _aw_previous_at
        from {{ relation }}

    ),

    _aw_segments as (

        -- the first row of each row's segment (the latest row at or before it that opens one)
        select
            * except (_aw_previous_at),
            {{ ignoring_nulls('last_value', 'case when _aw_is_segment_start then ' ~ at ~ ' end') }} over _aw_so_far
                as _aw_segment_at,
            {{ ignoring_nulls('last_value', 'case when _aw_is_segment_start then ' ~ id ~ ' end') }} over _aw_so_far
                as _aw_segment_id
        from (
            select
                *,
                _aw_previous_at is null or {{ at }} >= _aw_previous_at + {{ window_sql }}
                    as _aw_is_segment_start
            from _aw_previous
        )
        window _aw_so_far as (
            partition by {{ keys }} order by {{ at }}, {{ id }}
            rows between unbounded preceding and current row
        )

    ),

    _aw_later as (

        -- rows at or after the end of their segment's first window: the rest of the segment
        select
            {{ keys }},
            _aw_segment_at,
            {{ at }} as _aw_at,
            {{ id }} as _aw_id,
            row_number() over (
                partition by {{ keys }}, _aw_segment_at order by {{ at }}, {{ id }}
            ) as _aw_rn
        from _aw_segments
        where {{ at }} >= _aw_segment_at + {{ window_sql }}

    ),

    _aw_pointers as {{ cte_hint(true) }} (

        -- each later row's window end, and the rows themselves; at equal times a probe sorts
        -- first, so the row after it is the first row at or after the window's end
        select {{ keys }}, _aw_segment_at, _aw_rn, _aw_next_rn
        from (
            select
                *,
                {{ ignoring_nulls('first_value', 'case when _aw_is_row then _aw_rn end') }} over (
                    partition by {{ keys }}, _aw_segment_at
                    order by _aw_probe_at, _aw_is_row, _aw_rn
                    rows between current row and unbounded following
                ) as _aw_next_rn
            from (
                select {{ keys }}, _aw_segment_at, _aw_rn,
                    _aw_at + {{ window_sql }} as _aw_probe_at, false as _aw_is_row
                from _aw_later
                union all
                select {{ keys }}, _aw_segment_at, _aw_rn, _aw_at as _aw_probe_at, true as _aw_is_row
                from _aw_later
            )
        )
        where not _aw_is_row and _aw_next_rn is not null

    ),

    _aw_chain as (

        -- the first later row of a segment opens its second window; each opener points at the next
        select {{ keys }}, _aw_segment_at, _aw_rn
        from _aw_later
        where _aw_rn = 1

        union all

        select {{ _qualified('p', chain_keys) }}, p._aw_next_rn
        from _aw_chain as c
        inner join _aw_pointers as p
            on {{ _same_keys('c', 'p', chain_keys) }} and p._aw_rn = c._aw_rn
        where p._aw_next_rn > c._aw_rn  -- always moves on

    ),

    _aw_later_openers as (

        select
            {{ _qualified('l', partition_by) }},
            l._aw_id,
            o._aw_id as _aw_opener_id,
            o._aw_at as _aw_opener_at
        from (
            select
                _aw_later.*,
                max(case when _aw_chain._aw_rn is not null then _aw_later._aw_rn end) over (
                    partition by {{ _qualified('_aw_later', chain_keys) }}
                    order by _aw_later._aw_rn
                    rows unbounded preceding
                ) as _aw_opener_rn
            from _aw_later
            left join _aw_chain
                on {{ _same_keys('_aw_later', '_aw_chain', chain_keys) }}
                and _aw_later._aw_rn = _aw_chain._aw_rn
        ) as l
        inner join _aw_later as o
            on {{ _same_keys('l', 'o', chain_keys) }} and o._aw_rn = l._aw_opener_rn

    ),

    _aw_openers as (

        select
            s.* except (_aw_is_segment_start, _aw_segment_at, _aw_segment_id),
            coalesce(lo._aw_opener_id, s._aw_segment_id) as window_opener_id,
            coalesce(lo._aw_opener_at, s._aw_segment_at) as window_start_at
        from _aw_segments as s
        left join _aw_later_openers as lo
            on {{ _same_keys('s', 'lo', partition_by) }} and s.{{ id }} = lo._aw_id

    )

    select
        *,
        window_start_at + {{ window_sql }} as window_end_at,
        {{ id }} = window_opener_id as is_window_opener
    from _aw_openers
{% endmacro %}

{#- Spark: the same windows without recursion. Spark has no materialized CTE, so a recursive query
    recomputes the pointers at every step (167 s for int_candidate_impressions on the 30-day demo).
    Instead, per partition, a fold over its sorted times keeps the openers' times: a time at or
    after the last opener's window end opens the next window. Each row then belongs to the latest
    opener at or before it; of rows at an opener's time, the first by `id` is the opener. -#}
{% macro spark__anchored_windows(relation, partition_by, at, id, window_sql) %}
    {%- set keys = partition_by | join(', ') -%}
    with _aw_opener_times as (

        select
            {{ keys }},
            explode(aggregate(
                array_sort(collect_list({{ at }})),
                cast(array() as array<timestamp>),
                (openers, t) -> case
                    when size(openers) = 0 or t >= element_at(openers, -1) + {{ window_sql }}
                        then concat(openers, array(t))
                    else openers
                end
            )) as _aw_opener_at
        from {{ relation }}
        group by {{ keys }}

    ),

    _aw_marked as (

        select
            r.*,
            o._aw_opener_at is not null and row_number() over (
                partition by {{ _qualified('r', partition_by) }}, r.{{ at }} order by r.{{ id }}
            ) = 1 as is_window_opener
        from {{ relation }} as r
        left join _aw_opener_times as o
            on {{ _same_keys('r', 'o', partition_by) }} and r.{{ at }} = o._aw_opener_at

    ),

    _aw_openers as (

        select
            *,
            {{ ignoring_nulls('last_value', 'case when is_window_opener then ' ~ id ~ ' end') }}
                over _aw_so_far as window_opener_id,
            {{ ignoring_nulls('last_value', 'case when is_window_opener then ' ~ at ~ ' end') }}
                over _aw_so_far as window_start_at
        from _aw_marked
        window _aw_so_far as (
            partition by {{ keys }} order by {{ at }}, {{ id }}
            rows between unbounded preceding and current row
        )

    )

    select * except (is_window_opener), window_start_at + {{ window_sql }} as window_end_at,
        is_window_opener
    from _aw_openers
{% endmacro %}

{% macro _qualified(alias, columns) -%}
    {%- for c in columns %}{{ alias }}.{{ c }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}

{% macro _same_keys(left, right, columns) -%}
    {%- for c in columns %}{{ left }}.{{ c }} = {{ right }}.{{ c }}{{ " and " if not loop.last }}{% endfor -%}
{%- endmacro %}
