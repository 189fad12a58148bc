{#- Models land in the schema they are configured with (staging, intermediate, marts, audit),
    not in "<target schema>_<custom schema>": analysts query marts.usage_daily. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
