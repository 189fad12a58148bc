{#- Not-null test over a model's required columns in one scan, instead of one `not_null` test
    (a query, and a Dagster asset check with its events) per column. Fails with one row per
    column that holds nulls: (column_name, null_rows). A column that may be null on some rows
    keeps its own `not_null` test with a `where` config. -#}
{% test not_null_columns(model, columns) %}
with null_counts as (

    select
    {%- for column in columns %}
        count(*) - count({{ column }}) as nulls_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}

)

{% for column in columns -%}
select '{{ column }}' as column_name, nulls_{{ loop.index }} as null_rows
from null_counts
where nulls_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif -%}
{%- endfor %}
{% endtest %}
