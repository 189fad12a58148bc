-- One row per session; its date is the reporting-timezone date of its start.
select
    session_id,
    organization,
    bot,
    conversation_id,
    visitor_id,
    session_number,
    session_start_at,
    {{ to_local_date('session_start_at') }} as session_date,
    last_user_activity_at,
    user_event_count
from {{ ref('int_sessions') }}
