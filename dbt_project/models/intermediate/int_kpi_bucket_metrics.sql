-- One row per configured bucket metric: counts of one goal, bucketed by the goal's reason.
{{ rows_from_var('kpi_bucket_metrics', {
    'dashboard': 'string',
    'bot': 'string',
    'use_case': 'string',
    'metric': 'string',
    'goal': 'string',
}) }}
