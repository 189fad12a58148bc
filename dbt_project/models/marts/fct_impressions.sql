{{ incremental_per_unit(['organization', 'bot', 'visitor_id']) }}
-- One row per impression (page load with the messenger), with its unique-impression window.
-- Incremental per visitor (macro incremental_per_unit): int_impressions rewrites every
-- impression of a touched visitor with the visitor's newest ingest; those visitors' impressions
-- replace all of their rows here.
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
    is_engaged_unique,
    last_ingested_at
from {{ ref('int_impressions') }}
{{ only_touched_units(ref('int_impressions'), ['organization', 'bot', 'visitor_id']) }}
