{#- The reporting-timezone wall-clock time of a UTC timestamp (correct across DST changes). -#}
{% macro to_local_timestamp(utc_timestamp) -%}
    timezone('{{ var("reporting_timezone") }}', {{ utc_timestamp }} at time zone 'UTC')
{%- endmacro %}

{#- The reporting-timezone calendar date of a UTC timestamp. -#}
{% macro to_local_date(utc_timestamp) -%}
    cast({{ to_local_timestamp(utc_timestamp) }} as date)
{%- endmacro %}
