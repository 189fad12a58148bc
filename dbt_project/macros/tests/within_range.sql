{#- Range test for ratios and shares: fails on every row where the column is outside
    [min_value, max_value]. Null (a ratio whose denominator is 0) is not compared. -#}
{% test within_range(model, column_name, min_value, max_value) %}
select *
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
