{#- User text with personal data replaced: e-mail addresses, phone numbers and runs of four or
    more digits (card, account and order numbers). Lower-cased and trimmed so that the same
    input typed differently counts together. -#}
{% macro mask_personal_data(text) -%}
    {%- set email = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}' %}
    {%- set phone = '\\+?\\d[\\d\\s().-]{6,}\\d' %}
    {%- set digits = '\\d{4,}' %}
    nullif(trim(lower(
        {{ regexp_replace_all(
            regexp_replace_all(regexp_replace_all(text, email, '<email>'), phone, '<phone>'),
            digits,
            '<number>',
        ) }}
    )), '')
{%- endmacro %}
