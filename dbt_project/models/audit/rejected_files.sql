-- Every landing file that could not be read: kept on record, never silently skipped.
select
    source_file,
    size_bytes,
    reason,
    estimated_lines,
    delivery_date
from {{ ref('stg_messenger__rejected_files') }}
