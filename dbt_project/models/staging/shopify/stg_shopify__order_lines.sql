{{
    config(meta={
        'raw_key': 'order_gid',
        'change_keys': [['shopify_order', 'shopify_order_id']],
    })
}}

-- One row per line item of a Shopify order (its latest version as of var('as_of')).
with

orders as (
    {{ latest_versions('shopify', 'shopify__orders') }}
)

select
    {{ shopify_legacy_id("line_node.item ->> 'id'") }} as line_item_id,
    line_node.item ->> 'id' as line_item_gid,
    coalesce(
        (orders.payload ->> 'legacyResourceId')::bigint,
        {{ shopify_legacy_id("orders.payload ->> 'id'") }}
    ) as shopify_order_id,
    orders.source_id as order_gid,
    line_node.position,
    line_node.item ->> 'sku' as sku,
    line_node.item ->> 'name' as line_item_name,
    line_node.item ->> 'variantTitle' as variant_title,
    (line_node.item ->> 'quantity')::integer as quantity,
    (line_node.item ->> 'currentQuantity')::integer as current_quantity,
    coalesce((line_node.item ->> 'requiresShipping')::boolean, true) as requires_shipping,
    {{ decimal_amount("line_node.item -> 'originalUnitPriceSet' -> 'shopMoney' ->> 'amount'") }} as unit_price,
    upper(line_node.item -> 'originalUnitPriceSet' -> 'shopMoney' ->> 'currencyCode') as currency
from orders
cross join
    lateral jsonb_array_elements(
        {{ json_nodes("orders.payload -> 'lineItems'") }}
    ) with ordinality as line_node (item, position)
