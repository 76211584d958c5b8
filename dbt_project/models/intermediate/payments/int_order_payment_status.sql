{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order: its linked gateway payments summed, and the payment status of docs/mismatch-codes.md
--, with the moments a stage timestamp or a rule needs.

with

orders as (
    select * from {{ ref('stg_shopify__orders') }}
    where {{ in_scope('shopify_order_id') }}
),

transactions as (
    select * from {{ ref('stg_shopify__transactions') }}
    where {{ in_scope('shopify_order_id') }}
),

payments as (
    select * from {{ ref('int_payments') }}
),

links as (
    select * from {{ ref('int_payment_links') }}
    where shopify_order_id is not null and {{ in_scope('shopify_order_id') }}
),

refunds as (
    select * from {{ ref('int_payment_refunds') }}
),

linked_payments as (
    select
        links.shopify_order_id,
        upper(orders.currency) as order_currency,
        payments.*
    from links
    inner join payments
        on
            links.gateway = payments.gateway
            and links.payment_id = payments.payment_id
    inner join orders
        on links.shopify_order_id = orders.shopify_order_id
),

payment_totals as (
    select
        shopify_order_id,
        count(*) as payment_count,
        jsonb_agg(payment_id order by created_at, payment_id) filter (where gateway = 'stripe')
            as stripe_payment_intent_ids,
        jsonb_agg(payment_id order by created_at, payment_id) filter (where gateway = 'paypal')
            as paypal_capture_ids,
        sum(captured_amount) as captured_amount,
        sum(refunded_amount) as refunded_amount,
        sum(authorized_amount) as authorized_amount,
        sum(capture_count) as capture_count,
        bool_or(is_failed) as has_failed_payment,
        bool_or(is_voided) as has_voided_payment,
        jsonb_agg(distinct currency) as payment_currencies,
        bool_or(currency is distinct from order_currency) as currency_differs,
        min(first_captured_at) as first_gateway_capture_at
    from linked_payments
    group by shopify_order_id
),

-- the order's captures (as amounts) and refunds (in time order), to replay the refunds against what
-- was captured in one pass
money_events as (
    select
        shopify_order_id,
        captured_amount,
        0 as refund_amount,
        null::timestamptz as refunded_at,
        null as refund_id
    from linked_payments
    union all
    select
        linked_payments.shopify_order_id,
        0 as captured_amount,
        refunds.amount as refund_amount,
        refunds.refunded_at,
        refunds.refund_id
    from refunds
    inner join linked_payments
        on
            refunds.gateway = linked_payments.gateway
            and refunds.payment_id = linked_payments.payment_id
),

refund_steps as (
    select
        shopify_order_id,
        refunded_at,
        sum(captured_amount) over (partition by shopify_order_id) as captured_total,
        sum(refund_amount) over (
            partition by shopify_order_id
            order by refunded_at asc nulls first, refund_amount asc, refund_id asc
            rows between unbounded preceding and current row
        ) as refunded_so_far
    from money_events
),

-- the first moment the refunds came within tolerance of everything captured
refunds_reached as (
    select
        shopify_order_id,
        min(refunded_at) as refunds_reached_captured_at
    from refund_steps
    where
        refunded_at is not null
        and captured_total > 0
        and captured_total - refunded_so_far <= {{ var('amount_tolerance') }}
    group by shopify_order_id
),

shopify_captures as (
    select
        shopify_order_id,
        min(created_at) as first_captured_at
    from transactions
    where
        status = 'SUCCESS'
        and kind in ('SALE', 'CAPTURE')
    group by shopify_order_id
),

-- PayPal's Transaction Search publishes a movement up to `paypal_publish_lag_hours` after it happened,
-- so for that long after Shopify records a PayPal sale, capture or refund, the warehouse's PayPal side of
-- the order may be incomplete: the rules that read "no payment" must wait (fct_order_reconciliation)
paypal_movements as (
    select
        shopify_order_id,
        max(coalesce(processed_at, created_at)) as last_shopify_paypal_movement_at
    from transactions
    where
        gateway = 'paypal'
        and status = 'SUCCESS'
        and kind in ('SALE', 'CAPTURE', 'REFUND')
    group by shopify_order_id
),

summed as (
    select
        orders.shopify_order_id,
        coalesce(payment_totals.payment_count, 0) as payment_count,
        coalesce(payment_totals.stripe_payment_intent_ids, '[]') as stripe_payment_intent_ids,
        coalesce(payment_totals.paypal_capture_ids, '[]') as paypal_capture_ids,
        coalesce(payment_totals.captured_amount, 0) as captured_amount,
        coalesce(payment_totals.refunded_amount, 0) as refunded_amount,
        coalesce(payment_totals.authorized_amount, 0) as authorized_amount,
        coalesce(payment_totals.capture_count, 0) as capture_count,
        coalesce(payment_totals.has_failed_payment, false) as has_failed_payment,
        coalesce(payment_totals.has_voided_payment, false) as has_voided_payment,
        coalesce(payment_totals.payment_currencies, '[]') as payment_currencies,
        coalesce(payment_totals.currency_differs, false) as currency_differs,
        payment_totals.first_gateway_capture_at,
        shopify_captures.first_captured_at as first_shopify_capture_at,
        refunds_reached.refunds_reached_captured_at,
        paypal_movements.last_shopify_paypal_movement_at
    from orders
    left join payment_totals
        on orders.shopify_order_id = payment_totals.shopify_order_id
    left join refunds_reached
        on orders.shopify_order_id = refunds_reached.shopify_order_id
    left join shopify_captures
        on orders.shopify_order_id = shopify_captures.shopify_order_id
    left join paypal_movements
        on orders.shopify_order_id = paypal_movements.shopify_order_id
),

final as (
    select
        shopify_order_id,
        payment_count,
        stripe_payment_intent_ids,
        paypal_capture_ids,
        captured_amount,
        refunded_amount,
        captured_amount - refunded_amount as net_amount,
        authorized_amount,
        capture_count,
        has_failed_payment,
        has_voided_payment,
        payment_currencies,
        currency_differs,
        case
            when captured_amount > 0 and refunded_amount = 0 then 'paid'
            when captured_amount > 0 and captured_amount - refunded_amount <= {{ var('amount_tolerance') }}
                then 'refunded'
            when captured_amount > 0 then 'partially_refunded'
            when authorized_amount > 0 then 'authorized'
            when has_failed_payment then 'failed'
            when has_voided_payment then 'voided'
            else 'unpaid'
        end as payment_status,
        -- Shopify records the capture moment (a Stripe charge carries only its authorization time)
        case
            when captured_amount > 0 then coalesce(first_shopify_capture_at, first_gateway_capture_at)
        end as paid_at,
        refunds_reached_captured_at,
        last_shopify_paypal_movement_at
    from summed
)

select * from final
