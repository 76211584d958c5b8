{{ config(meta={'raw_key': 'order_gid'}) }}

-- One row per fulfillment of a Shopify order (its latest version as of var('as_of')).
with

orders as (
    {{ latest_versions('shopify', 'shopify__orders') }}
)

select
    {{ shopify_legacy_id("fulfillment.item ->> 'id'") }} as fulfillment_id,
    fulfillment.item ->> 'id' as fulfillment_gid,
    coalesce(
        (orders.payload ->> 'legacyResourceId')::bigint,
        {{ shopify_legacy_id("orders.payload ->> 'id'") }}
    ) as shopify_order_id,
    orders.source_id as order_gid,
    fulfillment.position,
    fulfillment.item ->> 'status' as status,
    {{ iso_timestamp("fulfillment.item ->> 'createdAt'") }} as created_at,
    {{ iso_timestamp("fulfillment.item ->> 'updatedAt'") }} as updated_at
from orders
cross join
    lateral jsonb_array_elements(
        {{ json_nodes("orders.payload -> 'fulfillments'") }}
    ) with ordinality as fulfillment (item, position)
