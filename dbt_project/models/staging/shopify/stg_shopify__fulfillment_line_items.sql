{{ config(meta={'raw_key': 'order_gid'}) }}

-- One row per line item quantity a Shopify fulfillment covers (fulfillmentLineItems).
with

fulfillments as (
    select
        {{ shopify_legacy_id("fulfillment.item ->> 'id'") }} as fulfillment_id,
        coalesce(
            (orders.payload ->> 'legacyResourceId')::bigint,
            {{ shopify_legacy_id("orders.payload ->> 'id'") }}
        ) as shopify_order_id,
        orders.source_id as order_gid,
        fulfillment.item ->> 'status' as fulfillment_status,
        fulfillment.item -> 'fulfillmentLineItems' as line_items
    from ({{ latest_versions('shopify', 'shopify__orders') }}) as orders
    cross join
        lateral jsonb_array_elements(
            {{ json_nodes("orders.payload -> 'fulfillments'") }}
        ) with ordinality as fulfillment (item, position)
)

select
    {{ shopify_legacy_id("line_node.item ->> 'id'") }} as fulfillment_line_item_id,
    fulfillments.fulfillment_id,
    fulfillments.shopify_order_id,
    fulfillments.order_gid,
    fulfillments.fulfillment_status,
    {{ shopify_legacy_id("line_node.item -> 'lineItem' ->> 'id'") }} as line_item_id,
    (line_node.item ->> 'quantity')::integer as quantity
from fulfillments
cross join
    lateral jsonb_array_elements(
        {{ json_nodes('fulfillments.line_items') }}
    ) with ordinality as line_node (item, position)
