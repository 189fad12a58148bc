{{ config(materialized='table') }}
-- What this build starts from: for every incremental model downstream of it (macro
-- scope_models), the newest ingest the model had processed (its watermark) before this build
-- rebuilds it. Daily marts read the partitions they recompute for that watermark from
-- int_touched_partitions, and the data tests of an incremental build check only the rows it
-- rewrote (macro changed_rows_predicate). Null for a model that is missing or fully refreshed
-- (rebuilt and tested whole). A model that is empty (a KPI mart without KPI dashboards) has
-- processed what the previous build staged: its watermark is the previous scope's
-- ingested_through (an incremental build follows a finished one: the pipeline's planner runs a
-- full refresh after an unfinished build). Every such model refs this one (through the macros
-- only_touched_units and touched_partitions_cte), so it is built before them: the watermarks
-- are read before any of them changes. ingested_through says which staged events the scope was
-- taken from: a reader checks it, so a scope left from an earlier build is never used.
{%- set watermarks = [] %}
{%- if execute %}
    {%- set previous = adapter.get_relation(
        database=this.database, schema=this.schema, identifier=this.identifier) %}
    {%- set previous_through = "(select max(ingested_through) from " ~ previous ~ ")"
        if previous is not none else "cast(null as timestamp)" %}
    {%- for node in scope_models() %}
        {%- set relation = none if flags.FULL_REFRESH
            else adapter.get_relation(
                database=node.database, schema=node.schema, identifier=node.alias) %}
        {%- if relation is none %}
            {%- do watermarks.append("select '" ~ node.name ~ "', cast(null as timestamp)") %}
        {%- else %}
            {%- do watermarks.append(
                "select '" ~ node.name ~ "', coalesce(max(last_ingested_at), " ~ previous_through
                ~ ") from " ~ relation) %}
        {%- endif %}
    {%- endfor %}
{%- endif %}

with watermarks (model_name, ingested_after) as (

    {%- if watermarks %}
    {{ watermarks | join('\n    union all\n    ') }}
    {%- else %}
    select cast(null as string), cast(null as timestamp) where false
    {%- endif %}

)

select
    model_name,
    ingested_after,
    (select max(last_ingested_at) from {{ ref('stg_messenger__events') }}) as ingested_through
from watermarks
