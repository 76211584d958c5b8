{#-
    Id normalisation for linking the systems (SPEC.md "Linking the systems"), the same as
    shipshape.sandbox.truth's norm_order_ref / norm_payment_ref / norm_tracking:

      normalize_order_ref:   trim white space; drop a leading `gid://shopify/Order/` (any case); drop
                             leading `#`s; trim; lower case; drop leading zeros, keeping one if nothing
                             else is left ('000' -> '0'); empty -> null.
                             '#1001', '1001', ' 001001 ', 'gid://shopify/Order/123' -> '1001', '1001',
                             '1001', '123'.
      normalize_payment_ref: trim white space; lower case; empty -> null.
      normalize_tracking:    trim white space; upper case; empty -> null (truth never keeps an empty
                             tracking number either).

    "White space" is exactly what Python's str.strip() strips (ASCII white space, \x1c-\x1f, NEL, NBSP
    and the Unicode spaces), spelled out rather than [[:space:]], whose meaning depends on the database
    locale. Lower/upper casing is Postgres' (the same as Python's for anything but exotic letters such
    as 'İ'). Each takes any SQL expression (cast to text) and is null for null.
-#}
{% macro strip_space(expr) -%}
    {%- set ws = '[\\t\\n\\v\\f\\r \\u001c-\\u001f\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]' -%}
    regexp_replace({{ expr }}, '^{{ ws }}+|{{ ws }}+$', '', 'g')
{%- endmacro %}

{% macro normalize_order_ref(expr) -%}
    nullif(regexp_replace(lower({{ strip_space(
        "regexp_replace(regexp_replace(" ~ strip_space("(" ~ expr ~ ")::text")
        ~ ", '^gid://shopify/order/', '', 'i'), '^#+', '')"
    ) }}), '^0+(?=.)', ''), '')
{%- endmacro %}

{% macro normalize_payment_ref(expr) -%}
    nullif(lower({{ strip_space("(" ~ expr ~ ")::text") }}), '')
{%- endmacro %}

{% macro normalize_tracking(expr) -%}
    nullif(upper({{ strip_space("(" ~ expr ~ ")::text") }}), '')
{%- endmacro %}
