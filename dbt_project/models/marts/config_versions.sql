-- The history of the metrics configurations this warehouse was built with, from the dbt var
-- config_versions that the pipeline keeps in the state folder (orchestration/config_history.py).
with versions as (

    {{ rows_from_var('config_versions', {
        'version': 'integer',
        'applied_at': 'timestamp',
        'hash': 'string',
        'source': 'string',
        'run_id': 'string',
        'content': 'string',
        'diff': 'string',
    }) }}

)

select
    *,
    version = max(version) over () as is_active
from versions
