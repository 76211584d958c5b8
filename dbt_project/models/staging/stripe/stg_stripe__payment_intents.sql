{{
    config(meta={
        'raw_key': 'payment_intent_id',
        'change_keys': [['payment', "'stripe:' || payment_intent_id"]],
    })
}}

-- One row per Stripe PaymentIntent: its latest version as of var('as_of'), money in major units.
with

latest as (
    {{ latest_versions('stripe', 'stripe__payment_intents') }}
),

typed as (
    select
        latest.source_id as payment_intent_id,
        {{ epoch_timestamp("latest.payload ->> 'created'") }} as created_at,
        upper(latest.payload ->> 'currency') as currency,
        latest.payload ->> 'status' as status,
        latest.payload ->> 'capture_method' as capture_method,
        {{ stripe_amount("(latest.payload ->> 'amount')", "latest.payload ->> 'currency'") }} as amount,
        {{ stripe_amount("(latest.payload ->> 'amount_capturable')", "latest.payload ->> 'currency'") }}
            as amount_capturable,
        {{ stripe_amount("(latest.payload ->> 'amount_received')", "latest.payload ->> 'currency'") }}
            as amount_received,
        latest.payload -> 'metadata' ->> 'shopify_order_id' as metadata_shopify_order_id,
        latest.payload -> 'metadata' ->> 'shopify_order_name' as metadata_shopify_order_name,
        -- latest_charge is an id, or the whole charge when a request expanded it
        case jsonb_typeof(latest.payload -> 'latest_charge')
            when 'object' then latest.payload -> 'latest_charge' ->> 'id'
            else latest.payload ->> 'latest_charge'
        end as latest_charge_id,
        latest.payload -> 'last_payment_error' ->> 'code' as last_payment_error_code,
        latest.payload -> 'last_payment_error' ->> 'decline_code' as last_payment_error_decline_code,
        {{ epoch_timestamp("latest.payload ->> 'canceled_at'") }} as canceled_at,
        latest.payload ->> 'cancellation_reason' as cancellation_reason,
        latest.payload ->> 'description' as description,
        latest.source_updated_at,
        latest.extracted_at
    from latest
)

select
    payment_intent_id,
    {{ normalize_payment_ref('payment_intent_id') }} as payment_intent_id_norm,
    created_at,
    amount,
    currency,
    status,
    capture_method,
    amount_capturable,
    amount_received,
    metadata_shopify_order_id,
    {{ normalize_order_ref('metadata_shopify_order_id') }} as metadata_order_ref,
    metadata_shopify_order_name,
    latest_charge_id,
    last_payment_error_code,
    last_payment_error_decline_code,
    canceled_at,
    cancellation_reason,
    description,
    source_updated_at,
    extracted_at
from typed
