{#- The reporting-timezone calendar date of a UTC timestamp (correct across DST changes). -#}
{% macro to_local_date(utc_timestamp) -%}
    cast(timezone('{{ var("reporting_timezone") }}', {{ utc_timestamp }} at time zone 'UTC') as date)
{%- endmacro %}
