-- One row per configured bucket metric: counts of one goal, bucketed by the goal's reason.
{{ rows_from_var('kpi_bucket_metrics', {
    'dashboard': 'varchar',
    'bot': 'varchar',
    'use_case': 'varchar',
    'metric': 'varchar',
    'goal': 'varchar',
}) }}
