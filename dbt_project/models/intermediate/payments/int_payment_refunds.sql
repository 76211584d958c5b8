{{ config(meta={'scope': ['payment', "gateway || ':' || payment_id"]}) }}
{{ scope_dependencies('payment') }}
-- One row per successful refund of a gateway payment, with the moment it happened: what
-- int_order_payment_status replays to find when refunds reached the captured amount.

with

stripe_charges as (
    select * from {{ ref('stg_stripe__charges') }}
    where {{ in_scope("'stripe:' || payment_intent_id") }}
),

stripe_refunds as (
    select * from {{ ref('stg_stripe__refunds') }}
),

paypal_transactions as (
    select * from {{ ref('stg_paypal__transactions') }}
),

-- a Stripe refund belongs to the PaymentIntent of the charge it refunds
stripe as (
    select
        'stripe' as gateway,
        stripe_charges.payment_intent_id as payment_id,
        stripe_refunds.refund_id,
        stripe_refunds.created_at as refunded_at,
        stripe_refunds.amount
    from stripe_refunds
    inner join stripe_charges
        on stripe_refunds.charge_id = stripe_charges.charge_id
    where
        stripe_refunds.status = 'succeeded'
        and stripe_charges.payment_intent_id is not null
),

-- a PayPal refund (T1107) names its capture in paypal_reference_id; PayPal reports it as a debit
paypal as (
    select
        'paypal' as gateway,
        paypal_reference_id as payment_id,
        transaction_id as refund_id,
        initiated_at as refunded_at,
        abs(amount) as amount
    from paypal_transactions
    where
        is_refund
        and transaction_status = 'S'
        and paypal_reference_id is not null
        and {{ in_scope("'paypal:' || paypal_reference_id") }}
)

select * from stripe
union all
select * from paypal
