-- One row per landing file that could not be read (a truncated or corrupt gzip, binary or
-- UTF-16 data, a directory or broken link with a landing name, a file that vanished or changed
-- while being read), as the ingest recorded it in the delivery day's manifest.
with source as (

    select * from {{ source('raw', 'delivery_manifests') }}

),

unnested as (

    select
        filename as manifest_file,
        {{ unnest_list('rejected_files') }} as rejected_file
    from source

)

select
    rejected_file.file as source_file,
    cast(rejected_file.size as bigint) as size_bytes,
    rejected_file.reason as reason,
    cast(rejected_file.estimated_lines as bigint) as estimated_lines,
    cast(regexp_extract(manifest_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})[.]json$', 1) as date) as delivery_date
from unnested
