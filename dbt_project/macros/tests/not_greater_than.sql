{#- Numerator-not-above-denominator test: fails on every row where the column is greater than
    `other` (a column name or SQL expression of the same model), e.g. failed_calls > calls.
    Rows where either side is null are not compared. -#}
{% test not_greater_than(model, column_name, other) %}
select *
from {{ model }}
where {{ column_name }} > {{ other }}
{% endtest %}
