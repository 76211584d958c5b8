{{ config(meta={'scope': ['payment', "gateway || ':' || payment_id"]}) }}
{{ scope_dependencies('payment') }}
-- One row per gateway payment, summed the way the payment status of docs/mismatch-codes.md needs:
-- a Stripe PaymentIntent with its charges and their refunds, or a PayPal capture with its refunds.
-- Amounts are in major units of the payment's currency.

with

stripe_intents as (
    select * from {{ ref('stg_stripe__payment_intents') }}
    where {{ in_scope("'stripe:' || payment_intent_id") }}
),

stripe_charges as (
    select
        *,
        -- a successful capture: the only kind of charge that moves money
        (
            status = 'succeeded'
            and coalesce(captured, false)
            and coalesce(amount_captured, 0) > 0
        ) as is_capture
    from {{ ref('stg_stripe__charges') }}
    where payment_intent_id is not null and {{ in_scope("'stripe:' || payment_intent_id") }}
),

stripe_refunds as (
    select * from {{ ref('stg_stripe__refunds') }}
    where charge_id in (select stripe_charges.charge_id from stripe_charges)
),

-- the captures of the payments this run recomputes, and the refunds that name them
paypal_transactions as (
    select * from {{ ref('stg_paypal__transactions') }}
    where
        (is_capture and {{ in_scope("'paypal:' || transaction_id") }})
        or (is_refund and {{ in_scope("'paypal:' || paypal_reference_id") }})
),

stripe_refunds_by_charge as (
    select
        charge_id,
        sum(amount) as refunded_amount
    from stripe_refunds
    where status = 'succeeded'
    group by charge_id
),

stripe_charges_by_intent as (
    select
        stripe_charges.payment_intent_id,
        coalesce(sum(stripe_charges.amount_captured) filter (where stripe_charges.is_capture), 0)
            as captured_amount,
        count(*) filter (where stripe_charges.is_capture) as capture_count,
        coalesce(sum(stripe_refunds_by_charge.refunded_amount), 0) as refunded_amount,
        coalesce(bool_or(stripe_charges.status = 'failed' and not stripe_charges.is_capture), false)
            as has_failed_charge,
        min(stripe_charges.created_at) filter (where stripe_charges.is_capture) as first_captured_at
    from stripe_charges
    left join stripe_refunds_by_charge
        on stripe_charges.charge_id = stripe_refunds_by_charge.charge_id
    group by stripe_charges.payment_intent_id
),

-- the tracking numbers on the captured charges' shipping.tracking_number (a comma-separated list)
stripe_tracking_numbers as (
    select
        stripe_charges.payment_intent_id,
        jsonb_agg(distinct {{ normalize_tracking('numbers.tracking_number') }}) as tracking_numbers
    from stripe_charges
    cross join
        lateral
        unnest(string_to_array(stripe_charges.shipping_tracking_number, ',')) as numbers (tracking_number)
    where
        stripe_charges.is_capture
        and {{ normalize_tracking('numbers.tracking_number') }} is not null
    group by stripe_charges.payment_intent_id
),

stripe_payments as (
    select
        'stripe' as gateway,
        stripe_intents.payment_intent_id as payment_id,
        stripe_intents.payment_intent_id_norm as payment_id_norm,
        stripe_intents.metadata_order_ref as order_ref,
        upper(stripe_intents.currency) as currency,
        stripe_intents.status as gateway_status,
        stripe_intents.created_at,
        coalesce(stripe_charges_by_intent.captured_amount, 0) as captured_amount,
        coalesce(stripe_charges_by_intent.refunded_amount, 0) as refunded_amount,
        case
            when stripe_intents.status = 'requires_capture'
                then coalesce(stripe_intents.amount_capturable, 0)
            else 0
        end as authorized_amount,
        coalesce(stripe_charges_by_intent.capture_count, 0) as capture_count,
        (
            coalesce(stripe_charges_by_intent.has_failed_charge, false)
            or (
                stripe_intents.status = 'requires_payment_method'
                and coalesce(stripe_intents.last_payment_error_code, '') != ''
            )
        ) as is_failed,
        stripe_intents.status = 'canceled' as is_voided,
        stripe_charges_by_intent.first_captured_at,
        case
            when coalesce(stripe_charges_by_intent.capture_count, 0) > 0
                then coalesce(stripe_tracking_numbers.tracking_numbers, '[]'::jsonb)
        end as tracking_numbers
    from stripe_intents
    left join stripe_charges_by_intent
        on stripe_intents.payment_intent_id = stripe_charges_by_intent.payment_intent_id
    left join stripe_tracking_numbers
        on stripe_intents.payment_intent_id = stripe_tracking_numbers.payment_intent_id
),

paypal_refunds_by_capture as (
    select
        paypal_reference_id as capture_id,
        sum(abs(amount)) as refunded_amount
    from paypal_transactions
    where
        is_refund
        and transaction_status = 'S'
    group by paypal_reference_id
),

paypal_payments as (
    select
        'paypal' as gateway,
        captures.transaction_id as payment_id,
        captures.transaction_id_norm as payment_id_norm,
        captures.invoice_order_ref as order_ref,
        upper(captures.currency) as currency,
        captures.transaction_status as gateway_status,
        captures.initiated_at as created_at,
        -- S: completed or partially refunded; V: fully refunded (reversed). Both captured the money.
        case when captures.transaction_status in ('S', 'V') then captures.amount else 0 end
            as captured_amount,
        coalesce(paypal_refunds_by_capture.refunded_amount, 0) as refunded_amount,
        0 as authorized_amount,
        case when captures.transaction_status in ('S', 'V') then 1 else 0 end as capture_count,
        -- D: denied. Transaction Search lists denied captures only when asked for non-balance-affecting
        -- records too; PayPal voids (an authorization never captured) are not transactions at all.
        captures.transaction_status = 'D' as is_failed,
        false as is_voided,
        case when captures.transaction_status in ('S', 'V') then captures.initiated_at end
            as first_captured_at,
        null::jsonb as tracking_numbers
    from paypal_transactions as captures
    left join paypal_refunds_by_capture
        on captures.transaction_id = paypal_refunds_by_capture.capture_id
    where captures.is_capture
),

unioned as (
    select * from stripe_payments
    union all
    select * from paypal_payments
)

select
    gateway,
    payment_id,
    payment_id_norm,
    order_ref,
    currency,
    gateway_status,
    created_at,
    captured_amount,
    refunded_amount,
    authorized_amount,
    capture_count,
    is_failed,
    is_voided,
    captured_amount > 0 as is_successful,
    first_captured_at,
    tracking_numbers
from unioned
