{#- A list-of-objects dbt var (from the configuration document) as a typed relation.
    `columns` maps column name -> SQL type; an empty list gives an empty relation. -#}
{% macro rows_from_var(var_name, columns) %}
    {%- set rows = var(var_name, []) -%}
    select
    {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    where false
    {%- for row in rows %}
    union all
    select
        {%- for name, type in columns.items() %}
        {%- set value = row.get(name) %}
        cast({{ "null" if value is none else (value if value is number else sql_string(value | string)) }} as {{ type }}){{ "," if not loop.last }}
        {%- endfor %}
    {%- endfor %}
{% endmacro %}
