{{ config(materialized='table') }}
-- depends_on: {{ ref('int_build_scope') }}, {{ ref('stg_messenger__events') }},
-- {{ ref('int_conversation_events') }}, {{ ref('int_impressions') }}
-- The partitions (metric_date, organization, bot) an incremental build recomputes in the daily
-- marts, once per build (macro touched_partitions: the rule), for each watermark the daily marts
-- had when the build started (int_build_scope; normally one). Each daily mart's SELECT and its
-- DELETE (strategy replace_partitions) read the rows of its own watermark, as do the data tests
-- of the build. Nothing in a full refresh.
{%- set watermarks = [] %}
{%- if execute and not flags.FULL_REFRESH %}
    {%- set daily_marts = [] %}
    {%- for node in scope_models() if node.config.incremental_strategy == 'replace_partitions' %}
        {%- do daily_marts.append("'" ~ node.name ~ "'") %}
    {%- endfor %}
    {%- if daily_marts %}
        {%- set query -%}
            select distinct strftime(ingested_after, '%Y-%m-%d %H:%M:%S.%f')
            from {{ ref('int_build_scope') }}
            where ingested_after is not null and model_name in ({{ daily_marts | join(', ') }})
            order by 1
        {%- endset %}
        {%- set watermarks = run_query(query).columns[0].values() %}
    {%- endif %}
{%- endif %}

{%- for watermark in watermarks %}
select
    timestamp '{{ watermark }}' as ingested_after,
    metric_date,
    organization,
    bot
from (
    {{ touched_partitions(
        ref('int_conversation_events'),
        ref('int_impressions'),
        ref('stg_messenger__events'),
        "timestamp '" ~ watermark ~ "'",
    ) }}
)
union all
{%- endfor %}
select
    cast(null as timestamp) as ingested_after,
    cast(null as date) as metric_date,
    cast(null as string) as organization,
    cast(null as string) as bot
where false
