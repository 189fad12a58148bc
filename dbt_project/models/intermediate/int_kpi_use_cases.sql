-- One row per KPI use case (and additional usage metric) of the configured kpiDashboards.
{{ rows_from_var('kpi_use_cases', {
    'dashboard': 'string',
    'dashboard_title': 'string',
    'bot': 'string',
    'use_case': 'string',
    'kind': 'string',
    'start_goal': 'string',
    'success_goal': 'string',
    'failure_goal': 'string',
}) }}
