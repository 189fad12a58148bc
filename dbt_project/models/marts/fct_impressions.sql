{{ incremental_per_unit(['organization', 'bot', 'visitor_id']) }}
-- One row per impression (page load with the messenger), with its unique-impression window.
-- Incremental per visitor (macro incremental_per_unit): a touched visitor's impressions replace
-- all of its rows here. last_ingested_at is each impression's own newest ingest, not the
-- visitor's (int_impressions.last_ingested_at): a recomputed row that did not change stays equal,
-- so a publish rewrites only the dates whose rows changed. The watermark (its maximum) may then
-- lag int_impressions' when a run brings conversation starts only; the next run recomputes those
-- visitors again, which changes nothing.
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
    impression_ingested_at as last_ingested_at
from {{ ref('int_impressions') }}
{{ only_touched_units(ref('int_impressions'), ['organization', 'bot', 'visitor_id']) }}
