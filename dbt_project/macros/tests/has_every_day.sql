{#- Calendar test: fails with one row per day missing between the column's first and last
    date. A day without any traffic is suspicious (a missing delivery?) but not a wrong number:
    give it severity warn. -#}
{% test has_every_day(model, column_name) %}
with bounds as (
    select min({{ column_name }}) as first_date, max({{ column_name }}) as last_date
    from {{ model }}
),

calendar as (
    select cast(day as date) as missing_date
    from (select {{ each_day('first_date', 'last_date') }} as day from bounds)
)

select missing_date
from calendar
where missing_date not in (select {{ column_name }} from {{ model }})
{% endtest %}
