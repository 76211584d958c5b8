{{ config(meta={'raw_key': 'shipment_id'}) }}

-- One row per line item quantity a ShipHero shipment carried (its latest version as of var('as_of')).
with

shipments as (
    {{ latest_versions('shiphero', 'shiphero__shipments') }}
)

select
    line_node.item ->> 'id' as shipment_line_item_id,
    shipments.source_id as shipment_id,
    shipments.payload ->> 'order_id' as shiphero_order_id,
    line_node.item ->> 'line_item_id' as shiphero_line_item_id,
    line_node.item ->> 'shipping_label_id' as label_id,
    line_node.item -> 'line_item' ->> 'sku' as sku,
    line_node.item -> 'line_item' ->> 'partner_line_item_id' as partner_line_item_id,
    (line_node.item ->> 'quantity')::integer as quantity
from shipments
cross join
    lateral jsonb_array_elements(
        {{ json_nodes("shipments.payload -> 'line_items'") }}
    ) with ordinality as line_node (item, position)
