{{
    config(meta={
        'raw_key': 'shipment_id',
        'change_keys': [['shipment', 'shipment_id']],
    })
}}

-- One row per shipping label of a ShipHero shipment (its latest version as of var('as_of')): the tracking
-- numbers the 3PL shipped with, normalised (trimmed, upper case), and their carrier.
with

shipments as (
    {{ latest_versions('shiphero', 'shiphero__shipments') }}
)

select
    label_node.item ->> 'id' as label_id,
    (label_node.item ->> 'legacy_id')::bigint as legacy_id,
    shipments.source_id as shipment_id,
    coalesce(label_node.item ->> 'order_id', shipments.payload ->> 'order_id') as shiphero_order_id,
    label_node.position,
    {{ normalize_tracking("label_node.item ->> 'tracking_number'") }} as tracking_number,
    label_node.item ->> 'carrier' as carrier,
    label_node.item ->> 'shipping_method' as shipping_method,
    label_node.item ->> 'shipping_name' as shipping_name,
    label_node.item ->> 'status' as status,
    {{ decimal_amount("label_node.item ->> 'cost'") }} as label_cost,
    {{ iso_timestamp("label_node.item ->> 'created_date'") }} as created_at
from shipments
cross join
    lateral jsonb_array_elements(
        {{ json_nodes("shipments.payload -> 'shipping_labels'") }}
    ) with ordinality as label_node (item, position)
