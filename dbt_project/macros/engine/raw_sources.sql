{#- The raw layer (Parquet and JSON files in the warehouse's state folder) as the `raw` sources.
    DuckDB reads the files where the sources point (their `external_location`); Spark needs
    tables in its catalog: created on the first run over the same files, and refreshed on every
    run so that each sees the delivery days ingested since. Runs at the start of every dbt
    invocation (on-run-start in dbt_project.yml). -#}
{% macro create_raw_sources() -%}
    {{ return(adapter.dispatch('create_raw_sources')()) }}
{%- endmacro %}

{% macro default__create_raw_sources() -%}
{%- endmacro %}

{% macro spark__create_raw_sources() -%}
    {%- if execute %}
        {%- set raw = var('state_dir', 'target') ~ '/raw' %}
        {%- set statements = [
            "create database if not exists raw",
            "create table if not exists raw.events using parquet options (path '"
                ~ raw ~ "/events', recursiveFileLookup 'true')",
            "create table if not exists raw.rejected_lines using parquet options (path '"
                ~ raw ~ "/rejects', recursiveFileLookup 'true')",
            "create table if not exists raw.delivery_manifest_files "
                ~ "(rejected_files array<struct<file: string, size: bigint, reason: string, "
                ~ "estimated_lines: bigint>>) using json options (path '"
                ~ raw ~ "/manifest', multiLine 'true')",
            "create or replace view raw.delivery_manifests as select rejected_files, "
                ~ "_metadata.file_path as filename from raw.delivery_manifest_files",
            "refresh table raw.events",
            "refresh table raw.rejected_lines",
            "refresh table raw.delivery_manifest_files",
        ] %}
        {%- for statement in statements %}
            {%- do run_query(statement) %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
