-- The configuration this warehouse was built with: one row per scalar setting, from the dbt
-- vars that `servisbot-metrics run` derives from the configuration document.
{% set versions = var("config_versions", []) %}
{% set current = versions[-1] if versions else none %}
select * from (
    values
    (0, 'version', 'Configuration version',
     '{{ current["version"] ~ " (" ~ current["hash"] ~ ")" if current else "not recorded" }}',
     '', 'The latest entry of config_versions (version and hash); when it was applied is there.'),
    (1, 'timezone', 'Reporting timezone', '{{ var("reporting_timezone") }}', '',
     'Every metric_date is the local calendar date in this timezone.'),
    (2, 'policies.userSession.expireOnInactivityInMinutes', 'Session inactivity timeout',
     '{{ var("session_inactivity_minutes") }}', 'minutes',
     'A user-side event at least this long after the previous one opens a new session.'),
    (3, 'policies.conversation.maxDurationInMinutes', 'Conversation maximum duration',
     '{{ var("conversation_max_minutes") }}', 'minutes',
     'A session opening at least this long after a conversation''s start opens a new conversation.'),
    (4, 'impressions.uniqueWindowHours', 'Unique impression window',
     '{{ var("unique_window_hours") }}', 'hours',
     'A unique impression opens a window of this length; impressions inside it are not unique.'),
    (5, 'kpiDashboards', 'KPI use cases configured',
     '{{ (var("kpi_use_cases") or []) | length }}', 'use cases',
     'useCases and additionalUsageMetrics over all kpiDashboards (see dim_kpi_use_cases).')
) as settings (setting_order, setting_key, setting, setting_value, unit, meaning)
