{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order with a (current) ShipHero order: which of its shipments' tracking numbers
-- each other system is missing (docs/mismatch-codes.md TRACKING_MISSING_IN_*).
--   shopify: numbers on no successful Shopify fulfillment of the order.
--   paypal:  numbers with no PayPal tracker (other than a cancelled one) on any of the order's PayPal
--            captures; it only matters while a linked capture is live (captured, not fully refunded).
--   stripe:  numbers missing from the shipping.tracking_number of some live linked PaymentIntent's
--            captured charges.

with

order_shipments as (
    select * from {{ ref('int_order_shipments') }}
    where {{ in_scope('shopify_order_id') }}
),

numbers as (
    select distinct
        order_shipments.shopify_order_id,
        numbers.tracking_number
    from order_shipments
    cross join lateral jsonb_array_elements_text(order_shipments.tracking_numbers) as numbers (tracking_number)
),

shopify_trackings as (
    select distinct
        shopify_order_id,
        tracking_number
    from {{ ref('stg_shopify__fulfillment_trackings') }}
    where fulfillment_status = 'SUCCESS' and {{ in_scope('shopify_order_id') }}
),

linked_payments as (
    select
        links.shopify_order_id,
        payments.gateway,
        payments.payment_id,
        payments.tracking_numbers,
        payments.captured_amount,
        (
            payments.captured_amount > 0
            and payments.captured_amount - payments.refunded_amount > {{ var('amount_tolerance') }}
        ) as is_live
    from {{ ref('int_payment_links') }} as links
    inner join {{ ref('int_payments') }} as payments
        on
            links.gateway = payments.gateway
            and links.payment_id = payments.payment_id
    where links.shopify_order_id is not null and {{ in_scope('links.shopify_order_id') }}
),

paypal_trackings as (
    select distinct
        linked_payments.shopify_order_id,
        trackers.tracking_number
    from linked_payments
    inner join {{ ref('stg_paypal__trackers') }} as trackers
        on linked_payments.payment_id = trackers.transaction_id
    where
        linked_payments.gateway = 'paypal'
        and trackers.status is distinct from 'CANCELLED'
),

live_payments as (
    select
        shopify_order_id,
        bool_or(gateway = 'paypal') as has_live_paypal_capture,
        bool_or(gateway = 'stripe') as has_live_stripe_capture,
        coalesce(sum(captured_amount) filter (where gateway = 'paypal'), 0) as live_paypal_captured_amount
    from linked_payments
    where is_live
    group by shopify_order_id
),

-- (order, number) pairs some live Stripe PaymentIntent of the order does not carry
stripe_gaps as (
    select distinct
        numbers.shopify_order_id,
        numbers.tracking_number
    from numbers
    inner join linked_payments
        on numbers.shopify_order_id = linked_payments.shopify_order_id
    where
        linked_payments.gateway = 'stripe'
        and linked_payments.is_live
        and not coalesce(linked_payments.tracking_numbers, '[]') @> jsonb_build_array(numbers.tracking_number)
),

missing as (
    select
        numbers.shopify_order_id,
        jsonb_agg(numbers.tracking_number order by numbers.tracking_number) filter (
            where shopify_trackings.tracking_number is null
        ) as missing_in_shopify,
        jsonb_agg(numbers.tracking_number order by numbers.tracking_number) filter (
            where paypal_trackings.tracking_number is null
        ) as missing_in_paypal,
        jsonb_agg(numbers.tracking_number order by numbers.tracking_number) filter (
            where stripe_gaps.tracking_number is not null
        ) as missing_in_stripe
    from numbers
    left join shopify_trackings
        on
            numbers.shopify_order_id = shopify_trackings.shopify_order_id
            and numbers.tracking_number = shopify_trackings.tracking_number
    left join paypal_trackings
        on
            numbers.shopify_order_id = paypal_trackings.shopify_order_id
            and numbers.tracking_number = paypal_trackings.tracking_number
    left join stripe_gaps
        on
            numbers.shopify_order_id = stripe_gaps.shopify_order_id
            and numbers.tracking_number = stripe_gaps.tracking_number
    group by numbers.shopify_order_id
)

select
    order_shipments.shopify_order_id,
    order_shipments.tracking_numbers,
    coalesce(live_payments.has_live_paypal_capture, false) as has_live_paypal_capture,
    coalesce(live_payments.has_live_stripe_capture, false) as has_live_stripe_capture,
    coalesce(live_payments.live_paypal_captured_amount, 0) as live_paypal_captured_amount,
    coalesce(missing.missing_in_shopify, '[]') as numbers_missing_in_shopify,
    coalesce(missing.missing_in_paypal, '[]') as numbers_missing_in_paypal,
    coalesce(missing.missing_in_stripe, '[]') as numbers_missing_in_stripe
from order_shipments
left join live_payments
    on order_shipments.shopify_order_id = live_payments.shopify_order_id
left join missing
    on order_shipments.shopify_order_id = missing.shopify_order_id
