-- One row per KPI use case (and additional usage metric) of the configured kpiDashboards.
{{ rows_from_var('kpi_use_cases', {
    'dashboard': 'varchar',
    'dashboard_title': 'varchar',
    'bot': 'varchar',
    'use_case': 'varchar',
    'kind': 'varchar',
    'start_goal': 'varchar',
    'success_goal': 'varchar',
    'failure_goal': 'varchar',
}) }}
