-- One row per impression (page load with the messenger), with its unique-impression window.
select
    impression_id,
    organization,
    bot,
    visitor_id,
    channel,
    page_url,
    impression_at,
    {{ to_local_date('impression_at') }} as impression_date,
    is_unique,
    unique_impression_id,
    window_start_at,
    window_end_at,
    is_engaged_unique
from {{ ref('int_impressions') }}
