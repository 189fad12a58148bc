-- The history of the metrics configurations this warehouse was built with, from the dbt var
-- config_versions that the pipeline keeps in the state folder (orchestration/config_history.py).
{{ rows_from_var('config_versions', {
    'version': 'integer',
    'applied_at': 'timestamp',
    'hash': 'varchar',
    'source': 'varchar',
    'run_id': 'varchar',
    'content': 'varchar',
}) }}
