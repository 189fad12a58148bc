{#- The reporting-timezone wall-clock time of a UTC timestamp (correct across DST changes).
    In UTC itself that is the timestamp unchanged, so the per-row time zone conversion is left
    out (the same values, without the ICU calls). -#}
{% macro to_local_timestamp(utc_timestamp) -%}
    {%- if var("reporting_timezone") == "UTC" -%}
        {{ utc_timestamp }}
    {%- else -%}
        {{ convert_from_utc(utc_timestamp, var("reporting_timezone")) }}
    {%- endif -%}
{%- endmacro %}

{#- The reporting-timezone calendar date of a UTC timestamp. -#}
{% macro to_local_date(utc_timestamp) -%}
    cast({{ to_local_timestamp(utc_timestamp) }} as date)
{%- endmacro %}
