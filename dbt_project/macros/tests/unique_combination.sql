{#- Primary-key test over several columns (dbt_utils.unique_combination_of_columns is not
    reachable here: no dbt hub). Fails on every key that occurs more than once. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
