{#- Whether a user-side event at `at` opens a new session, given the previous user-side event of
    its messenger conversation at `previous_at` (null for the first one): the first one does,
    and so does one at least `inactivity_minutes` after the previous (exactly the timeout has
    expired). One definition for int_conversation_events (the configured timeout) and
    config_sensitivity_daily (candidate timeouts), so that they cannot drift apart. -#}
{% macro opens_session(at, previous_at, inactivity_minutes) -%}
    ({{ previous_at }} is null
        or {{ at }} >= {{ previous_at }} + {{ interval_minutes(inactivity_minutes) }})
{%- endmacro %}
