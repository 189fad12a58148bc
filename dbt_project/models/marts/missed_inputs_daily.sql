-- The user inputs the bot did not understand (fallback intent matches), masked as in
-- missed_inputs, counted per reporting-timezone date of the fallback so that dashboards can
-- rank them over any date range.
select
    {{ to_local_date('occurred_at') }} as metric_date,
    organization,
    bot,
    masked_user_input as masked_input,
    count(*) as occurrences
from {{ ref('int_conversation_events') }}
where event_type = 'intent_matched' and intent = 'fallback' and masked_user_input is not null
group by all
