{{ incremental_per_partition() }}
-- The user inputs the bot did not understand (fallback intent matches), masked as in
-- missed_inputs, counted per reporting-timezone date of the fallback so that dashboards can
-- rank them over any date range.
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

fallbacks as (

    select
        {{ to_local_date('occurred_at') }} as metric_date,
        organization,
        bot,
        masked_user_input,
        last_ingested_at
    from {{ ref('int_conversation_events') }}
    where
        event_type = 'intent_matched' and intent = 'fallback' and masked_user_input is not null
        and {{ in_touched_partitions(to_local_date('occurred_at'), 'occurred_at') }}

)

select
    metric_date,
    organization,
    bot,
    masked_user_input as masked_input,
    count(*) as occurrences,
    max(last_ingested_at) as last_ingested_at
from fallbacks
group by metric_date, organization, bot, masked_user_input
