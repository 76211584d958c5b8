{#-
    Timestamps as timestamptz.

    iso_timestamp(expr): ISO 8601 text as the APIs send it ('2026-10-02T12:52:09Z', '...+00:00',
    PayPal's '+0000'); Postgres reads all of these. '' -> null.

    epoch_timestamp(expr): Stripe's epoch seconds (an integer, or its text) -> timestamptz.
-#}
{% macro iso_timestamp(expr) -%}
    nullif({{ expr }}, '')::timestamptz
{%- endmacro %}

{% macro epoch_timestamp(expr) -%}
    to_timestamp(({{ expr }})::numeric)
{%- endmacro %}

{#-
    shopify_legacy_id(expr): the numeric id at the end of a Shopify global id
    ('gid://shopify/LineItem/14100000000000' -> 14100000000000; anything else -> null). The usual shape
    is read with split_part/translate: the regex engine, on every id of every staged order, cost seconds.
-#}
{% macro shopify_legacy_id(expr) -%}
    {%- set kind = "split_part(" ~ expr ~ ", '/', 4)" -%}
    {%- set number = "split_part(" ~ expr ~ ", '/', 5)" -%}
    (
        case
            when
                left({{ expr }}, 14) = 'gid://shopify/'
                and {{ kind }} != ''
                and translate({{ kind }}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', '') = ''
                and {{ number }} != ''
                and translate({{ number }}, '0123456789', '') = ''
                then {{ number }}::bigint
            else substring({{ expr }} from '^gid://shopify/[A-Za-z]+/([0-9]+)')::bigint
        end
    )
{%- endmacro %}
