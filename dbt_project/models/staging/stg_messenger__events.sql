{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}
-- One row per distinct event: a redelivered event_id counts once, the copy received first wins.
-- Incremental: strategy delete+insert, unique key event_id. New rows are the raw rows ingested
-- after this table's watermark (max last_ingested_at); no event-time lookback is needed because
-- a late event is selected by when it was ingested, whatever its occurred_at. A new copy of an
-- event already here competes with the stored copy, so the earliest received_at still wins.
with source as (

    select * from {{ source('raw', 'events') }}
    {% if is_incremental() %}
        where ingested_at > {{ ingest_watermark() }}
    {% endif %}

),

renamed as (

    select
        event_id,
        event_type,
        cast(occurred_at as timestamp) as occurred_at,
        cast(received_at as timestamp) as received_at,
        organization,
        bot,
        visitor_id,
        conversation_id,
        channel,
        page_url,
        cast(properties as json) as properties,
        properties ->> 'start_action' as start_action,
        case when event_type = 'user_message' then properties ->> 'text' end as message_text,
        cast(properties ->> 'rating' as integer) as rating,
        properties ->> 'intent' as intent,
        cast(properties ->> 'confidence' as double) as confidence,
        properties ->> 'api' as api,
        cast(properties ->> 'status_code' as integer) as status_code,
        cast(properties ->> 'duration_ms' as double) as duration_ms,
        properties ->> 'goal' as goal,
        properties ->> 'reason' as goal_reason,
        event_type in ('conversation_start', 'user_message', 'feedback') as is_user_side,
        cast(delivery_date as date) as delivery_date,
        source_file,
        cast(line_number as bigint) as line_number,
        cast(ingested_at as timestamp) as ingested_at
    from source

),

candidates as (

    select * from renamed
    {% if is_incremental() %}
        union all by name
        select * exclude (last_ingested_at)
        from {{ this }}
        where event_id in (select event_id from renamed)
    {% endif %}

)

select
    *,
    -- the latest ingest that delivered any copy: downstream models treat the event as touched
    max(ingested_at) over (partition by event_id) as last_ingested_at
from candidates
qualify row_number() over (
    partition by event_id
    order by received_at, delivery_date, source_file, line_number
) = 1
