-- One row per distinct event: a redelivered event_id counts once, the copy received first wins.
with source as (

    select * from {{ source('raw', 'events') }}

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
        cast(delivery_date as date) as delivery_date,
        source_file,
        line_number,
        event_type in ('conversation_start', 'user_message', 'feedback') as is_user_side
    from source

)

select * from renamed
qualify row_number() over (
    partition by event_id
    order by received_at, delivery_date, source_file, line_number
) = 1
