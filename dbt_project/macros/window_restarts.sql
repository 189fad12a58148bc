{#- Where an incremental unique-impression model recomputes a touched visitor from (int_impressions,
    int_candidate_impressions): per row of `touched` (SQL with organization, bot, visitor_id, the
    `extra_keys` and first_new_at_id, the (impression_at, impression_id) of the visitor's earliest
    new row), `restart_at_id`, the (impression_at, impression_id) of the model's last stored window
    opener at or before it; null when there is none (the whole visitor is recomputed). A window
    chain depends only on earlier impressions, so the windows before that opener stand. -#}
{% macro window_restarts(touched, extra_keys=[]) -%}
    {%- set keys = ['organization', 'bot', 'visitor_id'] + extra_keys %}
    select
        {%- for key in keys %}
        touched.{{ key }},
        {%- endfor %}
        max((openers.impression_at, openers.impression_id))
            filter (where openers.impression_id is not null) as restart_at_id
    from ({{ touched }}) as touched
    left join {{ this }} as openers
        on
            {%- for key in keys %}
            touched.{{ key }} = openers.{{ key }} and
            {%- endfor %}
            openers.is_unique
            and (openers.impression_at, openers.impression_id) <= touched.first_new_at_id
    group by {% for key in keys %}touched.{{ key }}{{ ", " if not loop.last }}{% endfor %}
{%- endmacro %}
