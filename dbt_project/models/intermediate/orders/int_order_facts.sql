{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order with every fact the mismatch rules of docs/mismatch-codes.md read, from all five systems,
-- already linked and compared. fct_order_reconciliation only applies the rules to these columns.

with

orders as (
    select * from {{ ref('stg_shopify__orders') }}
    where {{ in_scope('shopify_order_id') }}
),

order_lines as (
    select * from {{ ref('stg_shopify__order_lines') }}
    where {{ in_scope('shopify_order_id') }}
),

payment_status as (
    select * from {{ ref('int_order_payment_status') }}
),

order_shipments as (
    select * from {{ ref('int_order_shipments') }}
),

address_comparison as (
    select * from {{ ref('int_order_address_comparison') }}
),

line_item_comparison as (
    select * from {{ ref('int_order_line_item_comparison') }}
),

shipping_method_comparison as (
    select * from {{ ref('int_order_shipping_method_comparison') }}
),

tracking_coverage as (
    select * from {{ ref('int_order_tracking_coverage') }}
),

-- a line removed by an edit (current quantity 0) no longer needs shipping
shipping_needs as (
    select
        shopify_order_id,
        bool_or(coalesce(requires_shipping, false) and coalesce(current_quantity, 0) > 0) as needs_shipping
    from order_lines
    group by shopify_order_id
)

select
    -- Shopify
    orders.shopify_order_id,
    orders.order_name,
    orders.order_gid,
    upper(orders.currency) as currency,
    orders.created_at as placed_at,
    orders.cancelled_at as shopify_cancelled_at,
    orders.display_financial_status,
    orders.display_fulfillment_status,
    orders.total_amount as order_total_amount,
    orders.current_total_amount,
    coalesce(orders.received_amount, 0) as shopify_received_amount,
    coalesce(orders.refunded_amount, 0) as shopify_refunded_amount,
    coalesce(shipping_needs.needs_shipping, false) as needs_shipping,
    coalesce(orders.has_shipping_address, false) as has_shipping_address,
    orders.shipping_code,
    -- gateways
    payment_status.payment_status,
    payment_status.payment_count,
    payment_status.stripe_payment_intent_ids,
    payment_status.paypal_capture_ids,
    payment_status.captured_amount as gateway_captured_amount,
    payment_status.refunded_amount as gateway_refunded_amount,
    payment_status.authorized_amount as gateway_authorized_amount,
    payment_status.capture_count as gateway_capture_count,
    payment_status.currency_differs as payment_currency_differs,
    payment_status.paid_at,
    payment_status.refunds_reached_captured_at,
    payment_status.last_shopify_paypal_movement_at,
    -- 3PL
    order_shipments.shiphero_order_id,
    order_shipments.shiphero_legacy_id,
    coalesce(order_shipments.shiphero_claims_on_order, 0) as shiphero_claims_on_order,
    order_shipments.shiphero_fulfillment_status,
    coalesce(order_shipments.shiphero_payment_hold, false) as shiphero_payment_hold,
    order_shipments.shiphero_order_date,
    coalesce(order_shipments.shipment_count, 0) as shipment_count,
    coalesce(order_shipments.has_shipment, false) as has_shipment,
    order_shipments.first_shipped_at,
    order_shipments.last_shipped_at,
    coalesce(order_shipments.all_shipments_delivered, false) as all_shipments_delivered,
    order_shipments.delivered_at,
    coalesce(order_shipments.latest_carrier_status, 'none') as latest_carrier_status,
    coalesce(order_shipments.tracking_numbers, '[]') as tracking_numbers,
    -- comparisons (null when there is nothing to compare)
    address_comparison.address_differs,
    line_item_comparison.line_items_differ,
    line_item_comparison.shopify_items,
    line_item_comparison.shiphero_items,
    shipping_method_comparison.expected_shipping_method,
    shipping_method_comparison.shiphero_shipping_method,
    shipping_method_comparison.shipping_method_differs,
    -- tracking numbers the other systems lack
    coalesce(tracking_coverage.has_live_paypal_capture, false) as has_live_paypal_capture,
    coalesce(tracking_coverage.live_paypal_captured_amount, 0) as live_paypal_captured_amount,
    coalesce(tracking_coverage.numbers_missing_in_shopify, '[]') as numbers_missing_in_shopify,
    coalesce(tracking_coverage.numbers_missing_in_paypal, '[]') as numbers_missing_in_paypal,
    coalesce(tracking_coverage.numbers_missing_in_stripe, '[]') as numbers_missing_in_stripe
from orders
left join shipping_needs
    on orders.shopify_order_id = shipping_needs.shopify_order_id
left join payment_status
    on orders.shopify_order_id = payment_status.shopify_order_id
left join order_shipments
    on orders.shopify_order_id = order_shipments.shopify_order_id
left join address_comparison
    on orders.shopify_order_id = address_comparison.shopify_order_id
left join line_item_comparison
    on orders.shopify_order_id = line_item_comparison.shopify_order_id
left join shipping_method_comparison
    on orders.shopify_order_id = shipping_method_comparison.shopify_order_id
left join tracking_coverage
    on orders.shopify_order_id = tracking_coverage.shopify_order_id
