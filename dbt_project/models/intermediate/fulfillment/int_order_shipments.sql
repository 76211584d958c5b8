{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order that has a (current) ShipHero order: that 3PL order's state and its
-- shipments summed up. Orders never sent to the 3PL have no row.

with

links as (
    select * from {{ ref('int_shiphero_order_links') }}
    where is_current and {{ in_scope('shopify_order_id') }}
),

shiphero_orders as (
    select * from {{ ref('stg_shiphero__orders') }}
),

shipments as (
    select * from {{ ref('int_shipments') }}
    where shiphero_order_id in (select links.shiphero_order_id from links)
),

shipment_summary as (
    select
        shipments.shiphero_order_id,
        count(distinct shipments.shipment_id) as shipment_count,
        min(shipments.created_at) as first_shipped_at,
        max(shipments.created_at) as last_shipped_at,
        bool_and(shipments.is_delivered) as all_shipments_delivered,
        max(shipments.delivered_at) as last_delivered_at,
        jsonb_agg(
            numbers.tracking_number order by
                shipments.created_at, shipments.shipment_legacy_id,
                numbers.position
        ) filter (where numbers.tracking_number is not null) as tracking_numbers
    from shipments
    left join
        lateral jsonb_array_elements_text(shipments.tracking_numbers)
        with ordinality as numbers (tracking_number, position)
        on true
    group by shipments.shiphero_order_id
),

-- the order's most recent shipment (by creation, then ShipHero id)
latest_shipment as (
    select distinct on (shiphero_order_id)
        shiphero_order_id,
        shipment_id,
        carrier_status
    from shipments
    order by shiphero_order_id asc, created_at desc nulls last, shipment_legacy_id desc nulls last, shipment_id desc
)

select
    links.shopify_order_id,
    links.shiphero_order_id,
    links.claims_on_order as shiphero_claims_on_order,
    shiphero_orders.legacy_id as shiphero_legacy_id,
    shiphero_orders.order_number as shiphero_order_number,
    shiphero_orders.fulfillment_status as shiphero_fulfillment_status,
    coalesce(shiphero_orders.payment_hold, false) as shiphero_payment_hold,
    shiphero_orders.order_date as shiphero_order_date,
    shiphero_orders.shipping_method as shiphero_shipping_method,
    coalesce(shipment_summary.shipment_count, 0) as shipment_count,
    coalesce(shipment_summary.shipment_count, 0) > 0 as has_shipment,
    shipment_summary.first_shipped_at,
    shipment_summary.last_shipped_at,
    coalesce(shipment_summary.all_shipments_delivered, false) as all_shipments_delivered,
    case when shipment_summary.all_shipments_delivered then shipment_summary.last_delivered_at end
        as delivered_at,
    coalesce(latest_shipment.carrier_status, 'none') as latest_carrier_status,
    latest_shipment.shipment_id as latest_shipment_id,
    coalesce(shipment_summary.tracking_numbers, '[]') as tracking_numbers
from links
inner join shiphero_orders
    on links.shiphero_order_id = shiphero_orders.shiphero_order_id
left join shipment_summary
    on links.shiphero_order_id = shipment_summary.shiphero_order_id
left join latest_shipment
    on links.shiphero_order_id = latest_shipment.shiphero_order_id
