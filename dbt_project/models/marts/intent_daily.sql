{{ incremental_per_partition() }}
-- Intent matches per reporting-timezone day, organization, bot and intent.
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

matches as (

    select
        match_date as metric_date,
        organization,
        bot,
        intent,
        count(*) as matches,
        count(confidence) as confidence_count,
        sum(confidence) as confidence_sum,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('fct_intent_matches') }}
    where {{ in_touched_partitions('match_date') }}
    group by match_date, organization, bot, intent

),

bot_days as (

    select
        *,
        sum(matches) over (partition by metric_date, organization, bot) as bot_day_matches,
        sum(case when intent = 'fallback' then matches end)
            over (partition by metric_date, organization, bot) as bot_day_fallbacks
    from matches

)

select
    metric_date,
    organization,
    bot,
    intent,
    intent = 'fallback' as is_fallback,
    matches,
    confidence_count,
    confidence_sum,
    confidence_sum / nullif(confidence_count, 0) as avg_confidence,
    bot_day_matches,
    matches / bot_day_matches as share_of_matches,
    coalesce(bot_day_fallbacks, 0) / bot_day_matches as fallback_share,
    last_ingested_at
from bot_days
