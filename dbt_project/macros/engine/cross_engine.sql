{#- SQL that DuckDB and Spark write differently, each written once per engine (adapter.dispatch:
    `duckdb__` and `spark__`). A model uses these and stays one file for both engines. -#}

{#- How a model is materialized when it is incremental on DuckDB. Spark's Parquet tables take no
    DELETE, which the incremental strategies need (replace_units, replace_partitions,
    delete+insert), so on Spark the model is rebuilt whole on every run: the same rows, as the
    property test proves incremental builds equal to full ones (tests/test_incremental.py). -#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization')()) }}
{%- endmacro %}
{% macro default__incremental_materialization() %}{{ return('incremental') }}{% endmacro %}
{% macro spark__incremental_materialization() %}{{ return('table') }}{% endmacro %}

{#- A CTE's materialization hint (`with x as {{ cte_hint(true) }} (`): DuckDB computes a
    `materialized` CTE once for all its readers and inlines a `not materialized` one into each;
    Spark has no hint and decides itself. -#}
{% macro cte_hint(materialized) -%}
    {{ return(adapter.dispatch('cte_hint')(materialized)) }}
{%- endmacro %}
{% macro default__cte_hint(materialized) -%}
    {{ 'materialized' if materialized else 'not materialized' }}
{%- endmacro %}
{% macro spark__cte_hint(materialized) %}{% endmacro %}

{#- The type of a JSON document column: DuckDB's JSON, a string on Spark. -#}
{% macro json_type() -%}
    {{ return(adapter.dispatch('json_type')()) }}
{%- endmacro %}
{% macro default__json_type() %}json{% endmacro %}
{% macro spark__json_type() %}string{% endmacro %}

{#- The text at each JSON path of `paths` ('$.a') in the document `column`, as a list (null where
    absent). DuckDB parses the document once for all the paths. -#}
{% macro json_texts(column, paths) -%}
    {{ return(adapter.dispatch('json_texts')(column, paths)) }}
{%- endmacro %}
{% macro default__json_texts(column, paths) -%}
    json_extract_string({{ column }}, [{% for path in paths %}'{{ path }}'{{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}
{% macro spark__json_texts(column, paths) -%}
    array({% for path in paths %}get_json_object({{ column }}, '{{ path }}'){{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- The n-th element of a list, counted from 1. -#}
{% macro list_item(list, n) -%}
    {{ return(adapter.dispatch('list_item')(list, n)) }}
{%- endmacro %}
{% macro default__list_item(list, n) %}{{ list }}[{{ n }}]{% endmacro %}
{% macro spark__list_item(list, n) %}element_at({{ list }}, {{ n }}){% endmacro %}

{#- One row per element of a list column (in a SELECT list). -#}
{% macro unnest_list(list) -%}
    {{ return(adapter.dispatch('unnest_list')(list)) }}
{%- endmacro %}
{% macro default__unnest_list(list) %}unnest({{ list }}){% endmacro %}
{% macro spark__unnest_list(list) %}explode({{ list }}){% endmacro %}

{#- A 64-bit hash of a value (equal values, equal hashes; different values rarely collide). -#}
{% macro hash64(value) -%}
    {{ return(adapter.dispatch('hash64')(value)) }}
{%- endmacro %}
{% macro default__hash64(value) %}hash({{ value }}){% endmacro %}
{% macro spark__hash64(value) %}xxhash64({{ value }}){% endmacro %}

{#- An interval of `n` (SQL: a number) minutes or hours. -#}
{% macro interval_minutes(n) -%}
    {{ return(adapter.dispatch('interval_minutes')(n)) }}
{%- endmacro %}
{% macro default__interval_minutes(n) %}to_minutes(cast({{ n }} as bigint)){% endmacro %}
{% macro spark__interval_minutes(n) %}make_dt_interval(0, 0, cast({{ n }} as int), 0){% endmacro %}

{% macro interval_hours(n) -%}
    {{ return(adapter.dispatch('interval_hours')(n)) }}
{%- endmacro %}
{% macro default__interval_hours(n) %}to_hours(cast({{ n }} as bigint)){% endmacro %}
{% macro spark__interval_hours(n) %}make_dt_interval(0, cast({{ n }} as int), 0, 0){% endmacro %}

{#- The seconds from timestamp `start` to timestamp `end` (a double, with fractions). -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between')(start, end)) }}
{%- endmacro %}
{% macro default__seconds_between(start, end) %}epoch({{ end }} - {{ start }}){% endmacro %}
{% macro spark__seconds_between(start, end) -%}
    timestampdiff(MICROSECOND, {{ start }}, {{ end }}) / 1e6
{%- endmacro %}

{#- A UTC wall-clock timestamp as the wall-clock time in time zone `tz` (a name). -#}
{% macro convert_from_utc(utc_timestamp, tz) -%}
    {{ return(adapter.dispatch('convert_from_utc')(utc_timestamp, tz)) }}
{%- endmacro %}
{% macro default__convert_from_utc(utc_timestamp, tz) -%}
    timezone('{{ tz }}', {{ utc_timestamp }} at time zone 'UTC')
{%- endmacro %}
{% macro spark__convert_from_utc(utc_timestamp, tz) -%}
    convert_timezone('UTC', '{{ tz }}', {{ utc_timestamp }})
{%- endmacro %}

{#- Now, as a UTC wall-clock timestamp. -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now')()) }}
{%- endmacro %}
{% macro default__utc_now() %}cast(current_timestamp at time zone 'UTC' as timestamp){% endmacro %}
{#- the session's time zone is UTC (profiles.yml) -#}
{% macro spark__utc_now() %}localtimestamp(){% endmacro %}

{#- ISO weekday number and English abbreviation of a timestamp: '1 Mon' .. '7 Sun'. -#}
{% macro weekday_label(ts) -%}
    {{ return(adapter.dispatch('weekday_label')(ts)) }}
{%- endmacro %}
{% macro default__weekday_label(ts) %}strftime({{ ts }}, '%u %a'){% endmacro %}
{% macro spark__weekday_label(ts) -%}
    concat(cast({{ iso_weekday(ts) }} as string), ' ', date_format({{ ts }}, 'EEE'))
{%- endmacro %}

{#- The values of `expression` joined by `separator` (SQL), in the order of `order_by` (SQL). -#}
{% macro ordered_string_agg(expression, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg')(expression, separator, order_by)) }}
{%- endmacro %}
{% macro default__ordered_string_agg(expression, separator, order_by) -%}
    string_agg({{ expression }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}
{% macro spark__ordered_string_agg(expression, separator, order_by) -%}
    listagg({{ expression }}, {{ separator }}) within group (order by {{ order_by }})
{%- endmacro %}

{#- A list literal of SQL expressions. -#}
{% macro list_of(items) -%}
    {{ return(adapter.dispatch('list_of')(items)) }}
{%- endmacro %}
{% macro default__list_of(items) %}[{{ items | join(', ') }}]{% endmacro %}
{% macro spark__list_of(items) %}array({{ items | join(', ') }}){% endmacro %}

{#- first_value or last_value (`function`) of the non-null values of a window frame (then
    `over ...`). -#}
{% macro ignoring_nulls(function, expression) -%}
    {{ return(adapter.dispatch('ignoring_nulls')(function, expression)) }}
{%- endmacro %}
{% macro default__ignoring_nulls(function, expression) -%}
    {{ function }}({{ expression }} ignore nulls)
{%- endmacro %}
{% macro spark__ignoring_nulls(function, expression) -%}
    {{ function }}({{ expression }}, true)
{%- endmacro %}

{#- `value` (text) as a SQL string literal. Spark reads backslashes in a literal as escapes. -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string')(value)) }}
{%- endmacro %}
{% macro default__sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
{% macro spark__sql_string(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- Every match of the regular expression `pattern` (text) in `text` (SQL) replaced. -#}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all')(text, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }}, 'g')
{%- endmacro %}
{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }})
{%- endmacro %}

{#- A struct of named fields: `fields` is a list of (name, SQL expression) pairs. -#}
{% macro struct_of(fields) -%}
    {{ return(adapter.dispatch('struct_of')(fields)) }}
{%- endmacro %}
{% macro default__struct_of(fields) -%}
    struct_pack({% for name, value in fields %}{{ name }} := {{ value }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro spark__struct_of(fields) -%}
    named_struct({% for name, value in fields %}'{{ name }}', {{ value }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- The ISO weekday of a date or timestamp: 1 (Monday) to 7 (Sunday). -#}
{% macro iso_weekday(ts) -%}
    {{ return(adapter.dispatch('iso_weekday')(ts)) }}
{%- endmacro %}
{% macro default__iso_weekday(ts) %}isodow({{ ts }}){% endmacro %}
{% macro spark__iso_weekday(ts) %}(weekday({{ ts }}) + 1){% endmacro %}

{#- One row per calendar day from date `first` to date `last`, both included (in a SELECT list;
    the value may be a timestamp: cast it to a date). -#}
{% macro each_day(first, last) -%}
    {{ return(adapter.dispatch('each_day')(first, last)) }}
{%- endmacro %}
{% macro default__each_day(first, last) -%}
    unnest(generate_series(cast({{ first }} as timestamp), cast({{ last }} as timestamp), interval 1 day))
{%- endmacro %}
{% macro spark__each_day(first, last) -%}
    explode(sequence({{ first }}, {{ last }}, interval 1 day))
{%- endmacro %}
