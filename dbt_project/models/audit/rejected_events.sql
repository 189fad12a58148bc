-- Every landing line that broke the contract: kept, never silently dropped.
select
    source_file,
    line_number,
    reason,
    raw_line,
    delivery_date
from {{ ref('stg_messenger__rejected_lines') }}
