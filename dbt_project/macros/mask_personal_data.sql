{#- User text with personal data replaced: e-mail addresses, phone numbers and runs of four or
    more digits (card, account and order numbers). Lower-cased and trimmed so that the same
    input typed differently counts together. -#}
{% macro mask_personal_data(text) -%}
    nullif(trim(lower(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    {{ text }},
                    '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '<email>', 'g'
                ),
                '\+?\d[\d\s().-]{6,}\d', '<phone>', 'g'
            ),
            '\d{4,}', '<number>', 'g'
        )
    )), '')
{%- endmacro %}
