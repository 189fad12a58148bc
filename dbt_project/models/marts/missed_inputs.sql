-- The user inputs the bot did not understand (docs block missed_input_rule). One row per
-- organization, bot and masked input.
select
    organization,
    bot,
    masked_user_input as masked_input,
    count(*) as occurrences,
    min({{ to_local_date('occurred_at') }}) as first_seen_date,
    max({{ to_local_date('occurred_at') }}) as last_seen_date,
    row_number() over (
        partition by organization, bot order by count(*) desc, masked_user_input
    ) as frequency_rank
from {{ ref('int_conversation_events') }}
where event_type = 'intent_matched' and intent = 'fallback' and masked_user_input is not null
group by organization, bot, masked_user_input
