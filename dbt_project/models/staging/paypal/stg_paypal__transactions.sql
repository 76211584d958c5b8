{{
    config(meta={
        'raw_key': 'transaction_id',
        'change_keys': [['payment', "'paypal:' || transaction_id"], ['payment', "'paypal:' || paypal_reference_id"]],
    })
}}

-- One row per PayPal transaction (Transaction Search): its latest version as of var('as_of'). Captures
-- (T0006, PayPal Checkout) and refunds (T1107, paypal_reference_id = the refunded capture) are the rows
-- that make a PayPal payment; amounts are signed as PayPal reports them (refunds negative).
with

latest as (
    {{ latest_versions('paypal', 'paypal__transactions') }}
),

typed as (
    select
        latest.source_id as transaction_id,
        latest.payload -> 'transaction_info' ->> 'transaction_event_code' as event_code,
        latest.payload -> 'transaction_info' ->> 'transaction_status' as transaction_status,
        {{ decimal_amount("latest.payload -> 'transaction_info' -> 'transaction_amount' ->> 'value'") }}
            as amount,
        upper(latest.payload -> 'transaction_info' -> 'transaction_amount' ->> 'currency_code') as currency,
        {{ decimal_amount("latest.payload -> 'transaction_info' -> 'fee_amount' ->> 'value'") }} as fee_amount,
        latest.payload -> 'transaction_info' ->> 'invoice_id' as invoice_id,
        latest.payload -> 'transaction_info' ->> 'custom_field' as custom_field,
        latest.payload -> 'transaction_info' ->> 'paypal_reference_id' as paypal_reference_id,
        latest.payload -> 'transaction_info' ->> 'paypal_reference_id_type' as paypal_reference_id_type,
        {{ iso_timestamp("latest.payload -> 'transaction_info' ->> 'transaction_initiation_date'") }}
            as initiated_at,
        {{ iso_timestamp("latest.payload -> 'transaction_info' ->> 'transaction_updated_date'") }}
            as updated_at,
        latest.payload -> 'payer_info' ->> 'account_id' as payer_account_id,
        latest.payload -> 'payer_info' ->> 'email_address' as payer_email,
        latest.source_updated_at,
        latest.extracted_at
    from latest
)

select
    transaction_id,
    {{ normalize_payment_ref('transaction_id') }} as transaction_id_norm,
    event_code,
    transaction_status,
    amount,
    currency,
    fee_amount,
    invoice_id,
    {{ normalize_order_ref('invoice_id') }} as invoice_order_ref,
    custom_field,
    paypal_reference_id,
    {{ normalize_payment_ref('paypal_reference_id') }} as paypal_reference_id_norm,
    paypal_reference_id_type,
    initiated_at,
    updated_at,
    -- T0006 is how PayPal reports an Orders v2 (PayPal Checkout) capture; the other T00xx codes that
    -- receive a buyer's payment for goods (T0003 pre-approved, T0005 direct payment, T0007 website
    -- payments standard, T0011 mobile) count as captures too.
    coalesce(event_code in ('T0003', 'T0005', 'T0006', 'T0007', 'T0011'), false) as is_capture,
    coalesce(event_code = 'T1107', false) as is_refund,
    payer_account_id,
    payer_email,
    source_updated_at,
    extracted_at
from typed
