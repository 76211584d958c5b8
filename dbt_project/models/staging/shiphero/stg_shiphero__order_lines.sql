{{
    config(meta={
        'raw_key': 'shiphero_order_id',
        'change_keys': [['shiphero_order', 'shiphero_order_id']],
    })
}}

-- One row per line item of a ShipHero order (its latest version as of var('as_of')).
with

orders as (
    {{ latest_versions('shiphero', 'shiphero__orders') }}
)

select
    line_node.item ->> 'id' as shiphero_line_item_id,
    (line_node.item ->> 'legacy_id')::bigint as legacy_id,
    orders.source_id as shiphero_order_id,
    line_node.position,
    line_node.item ->> 'sku' as sku,
    line_node.item ->> 'product_name' as product_name,
    (line_node.item ->> 'quantity')::integer as quantity,
    (line_node.item ->> 'quantity_shipped')::integer as quantity_shipped,
    (line_node.item ->> 'quantity_allocated')::integer as quantity_allocated,
    line_node.item ->> 'fulfillment_status' as fulfillment_status,
    line_node.item ->> 'partner_line_item_id' as partner_line_item_id,
    {{ decimal_amount("line_node.item ->> 'price'") }} as price
from orders
cross join
    lateral jsonb_array_elements(
        {{ json_nodes("orders.payload -> 'line_items'") }}
    ) with ordinality as line_node (item, position)
