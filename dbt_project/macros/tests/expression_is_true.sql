{#- Row-level invariant test (dbt_utils.expression_is_true is not reachable here: no dbt hub).
    Fails on every row for which the SQL boolean `expression` is not true; a null result counts
    as a failure, so guard nullable columns inside the expression. -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
