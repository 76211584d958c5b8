{#-
    Money in major units (numeric), from each API's convention.

    decimal_amount(expr): Shopify, PayPal and ShipHero send decimal strings ("12.30", "-1.50"); null and
    '' stay null.

    stripe_amount(amount_expr, currency_expr): Stripe sends integers in the currency's smallest unit.
    Divide by 100, except Stripe's zero-decimal currencies (JPY, KRW, ...: the amount is already in
    major units) and three-decimal currencies (BHD, JOD, KWD, OMR, TND: divide by 1000), as Stripe's
    currency documentation lists them. The result has exactly the currency's decimals (19.99, not
    19.9900000000000000).
-#}
{% macro decimal_amount(expr) -%}
    nullif({{ strip_space("(" ~ expr ~ ")::text") }}, '')::numeric
{%- endmacro %}

{% macro stripe_amount(amount_expr, currency_expr) -%}
    (case
        when
            upper({{ currency_expr }}) in (
                'BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA',
                'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'
            )
            then ({{ amount_expr }})::numeric
        when upper({{ currency_expr }}) in ('BHD', 'JOD', 'KWD', 'OMR', 'TND')
            then round(({{ amount_expr }})::numeric / 1000, 3)
        else round(({{ amount_expr }})::numeric / 100, 2)
    end)
{%- endmacro %}
