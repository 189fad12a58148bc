{{ incremental_per_partition() }}
-- Usage Metrics per reporting-timezone day, organization and bot. Event counts are dated by
-- occurred_at, sessions and conversations by their start, unique impressions by the unique
-- impression. Ratios come with their numerator and denominator. A missing row means zero.
-- Incremental per touched partition (macro incremental_per_partition).
with {{ touched_partitions_cte() }}

events as (

    select
        {{ to_local_date('occurred_at') }} as metric_date,
        organization,
        bot,
        count(*) filter (where event_type = 'conversation_start') as conversations_started,
        count(*) filter (where event_type = 'user_message') as user_messages,
        count(*) filter (where event_type = 'bot_message') as bot_messages,
        count(*) filter (where event_type = 'handover') as handovers,
        count(*) filter (where event_type = 'feedback') as feedback_count,
        sum(rating) filter (where event_type = 'feedback') as feedback_rating_sum,
        count(*) filter (where event_type = 'intent_matched') as intent_matches,
        count(*) filter (where event_type = 'intent_matched' and intent = 'fallback')
            as fallback_matches,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('int_conversation_events') }}
    where {{ in_touched_partitions(to_local_date('occurred_at'), 'occurred_at') }}
    group by all

),

impressions as (

    select
        impression_date as metric_date,
        organization,
        bot,
        count(*) as impressions,
        count(*) filter (where is_unique) as unique_impressions,
        count(*) filter (where is_engaged_unique) as engaged_unique_impressions,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('fct_impressions') }}
    where {{ in_touched_partitions('impression_date') }}
    group by all

),

sessions as (

    select
        session_date as metric_date,
        organization,
        bot,
        count(*) as sessions,
        sum(session_duration_seconds) as session_duration_seconds_sum,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('fct_sessions') }}
    where {{ in_touched_partitions('session_date') }}
    group by all

),

conversations as (

    select
        conversation_date as metric_date,
        organization,
        bot,
        count(*) as conversations,
        max(last_ingested_at) as last_ingested_at
    from {{ ref('fct_conversations') }}
    where {{ in_touched_partitions('conversation_date') }}
    group by all

),

spine as (

    select metric_date, organization, bot from events
    union
    select metric_date, organization, bot from impressions
    union
    select metric_date, organization, bot from sessions
    union
    select metric_date, organization, bot from conversations

),

joined as (

    select
        spine.metric_date,
        spine.organization,
        spine.bot,
        coalesce(impressions.impressions, 0) as impressions,
        coalesce(impressions.unique_impressions, 0) as unique_impressions,
        coalesce(impressions.engaged_unique_impressions, 0) as engaged_unique_impressions,
        coalesce(events.conversations_started, 0) as conversations_started,
        coalesce(conversations.conversations, 0) as conversations,
        coalesce(sessions.sessions, 0) as sessions,
        coalesce(events.user_messages, 0) as user_messages,
        coalesce(events.bot_messages, 0) as bot_messages,
        coalesce(events.handovers, 0) as handovers,
        coalesce(events.feedback_count, 0) as feedback_count,
        coalesce(events.feedback_rating_sum, 0) as feedback_rating_sum,
        coalesce(events.intent_matches, 0) as intent_matches,
        coalesce(events.fallback_matches, 0) as fallback_matches,
        coalesce(sessions.session_duration_seconds_sum, 0) as session_duration_seconds_sum,
        -- the partition's newest contributing ingest: this table's watermark
        greatest(
            events.last_ingested_at, impressions.last_ingested_at,
            sessions.last_ingested_at, conversations.last_ingested_at
        ) as last_ingested_at
    from spine
    left join events using (metric_date, organization, bot)
    left join impressions using (metric_date, organization, bot)
    left join sessions using (metric_date, organization, bot)
    left join conversations using (metric_date, organization, bot)

)

select
    * except (last_ingested_at),
    engaged_unique_impressions / nullif(unique_impressions, 0) as engagement_rate,
    feedback_rating_sum / nullif(feedback_count, 0) as avg_feedback_rating,
    session_duration_seconds_sum / nullif(sessions, 0) as avg_session_duration_seconds,
    sessions / nullif(conversations, 0) as sessions_per_conversation,
    fallback_matches / nullif(intent_matches, 0) as fallback_share,
    last_ingested_at
from joined
