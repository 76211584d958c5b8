{{
    config(
        materialized='view',
        meta={'test_scope': [
            ['int_payments', "gateway || ':' || payment_id"],
            ['int_payment_links', "gateway || ':' || payment_id"],
        ]},
        post_hook="{{ describe_mismatch_flags('payment') }}",
    )
}}
-- depends_on: {{ ref('mismatch_codes') }}  -- describe_mismatch_flags reads it

-- One row per gateway payment (Stripe PaymentIntent, PayPal capture): the Shopify order it links to,
-- how it was linked, what it moved, and ORPHAN_PAYMENT (docs/mismatch-codes.md ORPHAN_PAYMENT): a
-- successful payment (it captured money) that links to no Shopify order. A view: both tables it joins are
-- kept incrementally at the payment grain.

with

payments as (
    select * from {{ ref('int_payments') }}
),

links as (
    select * from {{ ref('int_payment_links') }}
)

select
    payments.gateway,
    payments.payment_id,
    links.shopify_order_id,
    coalesce(links.link_method, 'none') as link_method,
    payments.gateway_status,
    payments.created_at,
    payments.currency,
    payments.captured_amount,
    payments.refunded_amount,
    payments.captured_amount - payments.refunded_amount as net_amount,
    payments.authorized_amount,
    payments.is_successful,
    coalesce(payments.is_successful and links.shopify_order_id is null, false) as orphan_payment,
    {{ as_of() }} as as_of
from payments
left join links
    on
        payments.gateway = links.gateway
        and payments.payment_id = links.payment_id
