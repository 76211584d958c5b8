{#-
    Id normalisation for linking the systems (SPEC.md "Linking the systems"), the same as
    shipshape_sandbox.truth's norm_order_ref / norm_payment_ref / norm_tracking:

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

    No regular expressions: these run on every id of every staged record, and btrim/ltrim/left with a
    fixed set of characters give the same result several times faster than the regex engine.
-#}
{% macro strip_space(expr) -%}
    btrim(
        {{ expr }},
        E' \u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f\u0085\u00a0\u1680'
        || E'\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'
    )
{%- endmacro %}

{#- (a prefix of `gid://shopify/order/`, any case, then any leading `#`s; then leading zeros but the last) -#}
{% macro normalize_order_ref(expr) -%}
    {%- set stripped = strip_space("(" ~ expr ~ ")::text") -%}
    {%- set no_gid = "(case when lower(left(" ~ stripped ~ ", 20)) = 'gid://shopify/order/' then substr("
        ~ stripped ~ ", 21) else " ~ stripped ~ " end)" -%}
    {%- set ref = "lower(" ~ strip_space("ltrim(" ~ no_gid ~ ", '#')") ~ ")" -%}
    nullif(case when ltrim({{ ref }}, '0') = '' and {{ ref }} != '' then '0' else ltrim({{ ref }}, '0') end, '')
{%- endmacro %}

{% macro normalize_payment_ref(expr) -%}
    nullif(lower({{ strip_space("(" ~ expr ~ ")::text") }}), '')
{%- endmacro %}

{% macro normalize_tracking(expr) -%}
    nullif(upper({{ strip_space("(" ~ expr ~ ")::text") }}), '')
{%- endmacro %}
