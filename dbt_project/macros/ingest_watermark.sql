{#- The newest ingest an incremental model has already processed: rows with a later
    `last_ingested_at` upstream are new or touched. Only valid inside is_incremental(). -#}
{% macro ingest_watermark() -%}
    (select coalesce(max(last_ingested_at), timestamp '1970-01-01') from {{ this }})
{%- endmacro %}
