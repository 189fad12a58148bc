-- The user inputs the bot did not understand (docs block missed_input_rule). One row per
-- organization, bot and masked input.
-- A full table, derived from missed_inputs_daily (the same fallbacks counted per day, far fewer
-- rows than the events): the counts add up and the first and last dates are the extreme
-- metric_dates, so the values equal a count over int_conversation_events.
select
    organization,
    bot,
    masked_input,
    cast(sum(occurrences) as bigint) as occurrences,
    min(metric_date) as first_seen_date,
    max(metric_date) as last_seen_date,
    row_number() over (
        partition by organization, bot order by sum(occurrences) desc, masked_input
    ) as frequency_rank
from {{ ref('missed_inputs_daily') }}
group by organization, bot, masked_input
