{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
{#-
    SPEC.md "Comparing addresses" (truth.py `address_key`): each field lower case, ASCII punctuation
    dropped, white space folded to single spaces and trimmed; the zip upper case with punctuation and
    every space dropped; a missing field compares as ''.
-#}
{%- set punctuation = "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'" -%}
{%- set text_pattern = "btrim(regexp_replace(translate(lower(coalesce(EXPR, '')), " ~ punctuation
    ~ ", ''), '[[:space:]]+', ' ', 'g'))" -%}
{%- set zip_pattern = "upper(regexp_replace(translate(coalesce(EXPR, ''), " ~ punctuation
    ~ ", ''), '[[:space:]]+', '', 'g'))" -%}
{%- set fields = ['name', 'address1', 'address2', 'city', 'province_code', 'zip', 'country_code'] -%}

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

normalized as (
    select
        links.shopify_order_id,
        links.shiphero_order_id,
        -- Shopify may hold no shipping address at all (nothing to compare then)
        coalesce(orders.has_shipping_address, false) as has_shopify_address,
    {%- for field in fields %}
        {%- set pattern = zip_pattern if field == 'zip' else text_pattern %}
        {{ pattern | replace('EXPR', 'orders.ship_' ~ field) }} as shopify_{{ field }},
        {{ pattern | replace('EXPR', 'shiphero_orders.ship_' ~ field) }} as shiphero_{{ field }}
        {{- ',' if not loop.last }}
    {%- endfor %}
    from links
    inner join orders
        on links.shopify_order_id = orders.shopify_order_id
    inner join shiphero_orders
        on links.shiphero_order_id = shiphero_orders.shiphero_order_id
)

select
    *,
    (
        {%- for field in fields %}
            shopify_{{ field }} != shiphero_{{ field }}{{ ' or' if not loop.last }}
        {%- endfor %}
    ) as address_differs
from normalized
