-- One row per landing line that broke the contract.
with source as (

    select * from {{ source('raw', 'rejected_lines') }}

)

select
    source_file,
    cast(line_number as bigint) as line_number,
    reason,
    raw_line,
    cast(delivery_date as date) as delivery_date
from source
