{{
    config(meta={
        'raw_key': 'order_gid',
        'change_keys': [['shopify_order', 'shopify_order_id']],
    })
}}

-- One row per tracking number on a Shopify fulfillment (trackingInfo), normalised (trimmed, upper case);
-- entries without a number are left out.
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
        fulfillment.item -> 'trackingInfo' as tracking_info
    from ({{ latest_versions('shopify', 'shopify__orders') }}) as orders
    cross join
        lateral jsonb_array_elements(
            {{ json_nodes("orders.payload -> 'fulfillments'") }}
        ) with ordinality as fulfillment (item, position)
),

trackings as (
    select
        fulfillments.fulfillment_id,
        fulfillments.shopify_order_id,
        fulfillments.order_gid,
        fulfillments.fulfillment_status,
        tracking.position,
        {{ normalize_tracking("tracking.item ->> 'number'") }} as tracking_number,
        tracking.item ->> 'company' as tracking_company,
        tracking.item ->> 'url' as tracking_url
    from fulfillments
    cross join
        lateral jsonb_array_elements(
            {{ json_nodes('fulfillments.tracking_info') }}
        ) with ordinality as tracking (item, position)
)

select
    fulfillment_id,
    shopify_order_id,
    order_gid,
    fulfillment_status,
    position,
    tracking_number,
    tracking_company,
    tracking_url
from trackings
where tracking_number is not null
