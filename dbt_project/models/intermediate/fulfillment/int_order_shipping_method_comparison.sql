{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order with a (current) ShipHero order: docs/mismatch-codes.md "Comparisons", shipping methods
--: the Shopify shipping line code mapped through the editable seed `shipping_method_map` (a
-- code the seed lacks is compared as it is), against ShipHero's shipping method, case-insensitively.
-- Null when Shopify has no shipping line (nothing to compare).

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

method_map as (
    select * from {{ ref('shipping_method_map') }}
)

select
    links.shopify_order_id,
    links.shiphero_order_id,
    orders.shipping_code as shopify_shipping_code,
    coalesce(method_map.shiphero_shipping_method, orders.shipping_code) as expected_shipping_method,
    shiphero_orders.shipping_method as shiphero_shipping_method,
    case
        when orders.shipping_code is not null
            then lower(coalesce(method_map.shiphero_shipping_method, orders.shipping_code))
                != lower(coalesce(shiphero_orders.shipping_method, ''))
    end as shipping_method_differs
from links
inner join orders
    on links.shopify_order_id = orders.shopify_order_id
inner join shiphero_orders
    on links.shiphero_order_id = shiphero_orders.shiphero_order_id
left join method_map
    on orders.shipping_code = method_map.shopify_shipping_code
