{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
{#-
    docs/mismatch-codes.md "Comparisons", addresses: each field lower case, ASCII punctuation
    dropped, white space folded to single spaces and trimmed; the zip upper case with punctuation and
    every space dropped; a missing field compares as ''.

    The regular expression that folds white space is the costly step, so it runs once over the six text
    fields joined by U+0001 (neither white space nor punctuation, so it separates the runs it folds and
    survives the translation) and the result is split again; an address that holds U+0001 itself is
    normalised field by field.
-#}
{%- set punctuation = "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'" -%}
{%- set text_pattern = "btrim(regexp_replace(translate(lower(coalesce(EXPR, '')), " ~ punctuation
    ~ ", ''), '[[:space:]]+', ' ', 'g'))" -%}
{%- set zip_pattern = "upper(regexp_replace(translate(coalesce(EXPR, ''), " ~ punctuation
    ~ ", ''), '[[:space:]]+', '', 'g'))" -%}
{%- set fields = ['name', 'address1', 'address2', 'city', 'province_code', 'zip', 'country_code'] -%}
{%- set text_fields = fields | reject('equalto', 'zip') | list -%}
{%- set sides = [('shopify', 'orders'), ('shiphero', 'shiphero_orders')] -%}

-- One row per Shopify order with a (current) ShipHero order: both shipping addresses normalised
-- field by field, and whether they differ.

with

links as (
    select * from {{ ref('int_shiphero_order_links') }}
    where is_current and {{ in_scope('shopify_order_id') }}
),

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

shiphero_orders as (
    select * from {{ ref('stg_shiphero__orders') }}
),

-- each side's text fields, normalised together (once per row: the offset keeps the planner from copying
-- the expression into every field below)
joined as (
    select
        links.shopify_order_id,
        links.shiphero_order_id,
        -- Shopify may hold no shipping address at all (nothing to compare then)
        coalesce(orders.has_shipping_address, false) as has_shopify_address,
    {%- for side, relation in sides %}
        {%- for field in fields %}
            {{ relation }}.ship_{{ field }} as {{ side }}_raw_{{ field }},
        {%- endfor %}
        strpos(
            concat(
                {%- for field in text_fields %}
                    {{ relation }}.ship_{{ field }}
                    {{- ',' if not loop.last }}
                {%- endfor %}
            ),
            chr(1)
        ) = 0 as {{ side }}_separable,
        regexp_replace(
            translate(
                lower(
                    concat_ws(
                        chr(1),
                        {%- for field in text_fields %}
                            coalesce({{ relation }}.ship_{{ field }}, '')
                            {{- ',' if not loop.last }}
                        {%- endfor %}
                    )
                ),
                {{ punctuation }},
                ''
            ),
            '[[:space:]]+',
            ' ',
            'g'
        ) as {{ side }}_text
        {{- ',' if not loop.last }}
    {%- endfor %}
    from links
    inner join orders
        on links.shopify_order_id = orders.shopify_order_id
    inner join shiphero_orders
        on links.shiphero_order_id = shiphero_orders.shiphero_order_id
    -- an optimisation fence, not a limit: every row is kept
    offset 0  -- noqa: AM09
),

normalized as (
    select
        shopify_order_id,
        shiphero_order_id,
        has_shopify_address,
    {%- for side, relation in sides %}
    {%- for field in fields %}
    {%- if field == 'zip' %}
        {{ zip_pattern | replace('EXPR', side ~ '_raw_zip') }} as {{ side }}_zip,
    {%- else %}
        case
            when {{ side }}_separable
                then btrim(split_part({{ side }}_text, chr(1), {{ text_fields.index(field) + 1 }}))
            else {{ text_pattern | replace('EXPR', side ~ '_raw_' ~ field) }}
        end as {{ side }}_{{ field }}
        {{- ',' if not (loop.last and side == 'shiphero') }}
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
    from joined
)

select
    *,
    (
        {%- for field in fields %}
            shopify_{{ field }} != shiphero_{{ field }}{{ ' or' if not loop.last }}
        {%- endfor %}
    ) as address_differs
from normalized
