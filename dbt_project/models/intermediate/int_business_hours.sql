-- One row per KPI dashboard and configured weekday: local business hours [start_hour, end_hour).
{{ rows_from_var('business_hours', {
    'dashboard': 'string',
    'bot': 'string',
    'isodow': 'integer',
    'start_hour': 'integer',
    'end_hour': 'integer',
}) }}
