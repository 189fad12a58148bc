{#- Anchored windows: per partition, ordered by (at, id), the first row opens a window of
    `window_sql`; later rows inside it (at < opener's at + window) belong to it; the first row
    at or after the window's end opens the next window. This is a chain, not "gap since the
    previous row", so it is resolved by following pointers:

    1. a row at least one window after its predecessor always opens a window, which cuts each
       partition into independent segments (bounded chains even for a device with thousands of
       rows: a segment needs a row at least every window);
    2. every row gets a pointer to the first row at or after its own window's end (a window
       function over rows merged with window-end probes; DuckDB has no ASOF join in a
       recursive query);
    3. a recursive CTE follows the pointers from each segment's first row: those are the openers;
    4. every row belongs to the latest opener at or before it.

    Returns every input column plus `window_opener_id` (the `id` of the row that opened the
    row's window), `window_start_at`, `window_end_at` and `is_window_opener`. -#}
{% macro anchored_windows(relation, partition_by, at, id, window_sql) %}
    {%- set keys = partition_by | join(', ') -%}
    with recursive ordered as (

        select
            *,
            row_number() over (partition by {{ keys }} order by {{ at }}, {{ id }}) as _rn,
            {{ at }} + {{ window_sql }} as _window_end_at,
            lag({{ at }}) over (partition by {{ keys }} order by {{ at }}, {{ id }}) as _previous_at
        from {{ relation }}

    ),

    segmented as (

        select
            *,
            sum(case when _previous_at is null or {{ at }} >= _previous_at + {{ window_sql }}
                then 1 else 0 end)
                over (partition by {{ keys }} order by _rn rows unbounded preceding) as _segment
        from ordered

    ),

    bounded as (

        select
            *,
            max(_rn) over (partition by {{ keys }}, _segment) as _segment_last_rn
        from segmented

    ),

    probes as (

        -- each row's window end, and the rows themselves; at equal times a probe sorts first, so
        -- the row after it is the first row at or after the window's end
        select {{ keys }}, _rn, _segment_last_rn, _window_end_at as _probe_at, 0 as _is_row
        from bounded
        union all
        select {{ keys }}, _rn, _segment_last_rn, {{ at }} as _probe_at, 1 as _is_row
        from bounded

    ),

    pointers as (

        select {{ keys }}, _rn, _segment_last_rn, _next_rn
        from (
            select
                *,
                first_value(case when _is_row = 1 then _rn end ignore nulls) over (
                    partition by {{ keys }}
                    order by _probe_at, _is_row, _rn
                    rows between current row and unbounded following
                ) as _next_rn
            from probes
        )
        where _is_row = 0

    ),

    openers as (

        select {{ keys }}, _rn
        from bounded
        where _previous_at is null or {{ at }} >= _previous_at + {{ window_sql }}

        union all

        select {{ _qualified('p', partition_by) }}, p._next_rn
        from openers as o
        inner join pointers as p
            on {{ _same_keys('o', 'p', partition_by) }} and p._rn = o._rn
        where p._next_rn <= p._segment_last_rn and p._next_rn > o._rn  -- always moves on

    ),

    latest_opener as (

        select
            bounded.*,
            max(case when openers._rn is not null then bounded._rn end) over (
                partition by {{ _qualified('bounded', partition_by) }}
                order by bounded._rn
                rows unbounded preceding
            ) as _opener_rn
        from bounded
        left join openers
            on {{ _same_keys('bounded', 'openers', partition_by) }} and bounded._rn = openers._rn

    )

    select
        l.* exclude (_rn, _window_end_at, _previous_at, _segment, _segment_last_rn, _opener_rn),
        r.{{ id }} as window_opener_id,
        r.{{ at }} as window_start_at,
        r._window_end_at as window_end_at,
        l._rn = l._opener_rn as is_window_opener
    from latest_opener as l
    inner join bounded as r
        on {{ _same_keys('l', 'r', partition_by) }} and r._rn = l._opener_rn
{% endmacro %}

{% macro _qualified(alias, columns) -%}
    {%- for c in columns %}{{ alias }}.{{ c }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}

{% macro _same_keys(left, right, columns) -%}
    {%- for c in columns %}{{ left }}.{{ c }} = {{ right }}.{{ c }}{{ " and " if not loop.last }}{% endfor -%}
{%- endmacro %}
