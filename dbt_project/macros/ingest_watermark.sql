{#- The newest ingest an incremental model has already processed: rows with a later
    `last_ingested_at` upstream are new or touched. Only valid inside is_incremental(). An empty
    model downstream of int_build_scope takes the watermark the scope recorded for it (what the
    previous build staged), when the scope is this build's; else the beginning of time. -#}
{% macro ingest_watermark() -%}
    (select coalesce(
        max(last_ingested_at),
        {%- if execute and this.identifier in scope_models() | map(attribute='name') | list %}
        (
            select scope.ingested_after
            from {{ model_relation('int_build_scope') }} as scope
            where
                scope.model_name = '{{ this.identifier }}'
                and {{ scope_is_current('scope.ingested_through') }}
        ),
        {%- endif %}
        timestamp '1970-01-01'
    ) from {{ this }})
{%- endmacro %}
