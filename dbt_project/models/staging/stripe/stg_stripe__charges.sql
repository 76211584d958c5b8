{{
    config(meta={
        'raw_key': 'charge_id',
        'change_keys': [['payment', "'stripe:' || payment_intent_id"]],
    })
}}

-- One row per Stripe Charge: its latest version as of var('as_of'), money in major units.
with

latest as (
    {{ latest_versions('stripe', 'stripe__charges') }}
)

select
    latest.source_id as charge_id,
    -- payment_intent is an id, or the whole PaymentIntent when a request expanded it
    case jsonb_typeof(latest.payload -> 'payment_intent')
        when 'object' then latest.payload -> 'payment_intent' ->> 'id'
        else latest.payload ->> 'payment_intent'
    end as payment_intent_id,
    {{ epoch_timestamp("latest.payload ->> 'created'") }} as created_at,
    latest.payload ->> 'status' as status,
    coalesce((latest.payload ->> 'captured')::boolean, false) as captured,
    coalesce((latest.payload ->> 'paid')::boolean, false) as paid,
    coalesce((latest.payload ->> 'refunded')::boolean, false) as refunded,
    coalesce((latest.payload ->> 'disputed')::boolean, false) as disputed,
    {{ stripe_amount("(latest.payload ->> 'amount')", "latest.payload ->> 'currency'") }} as amount,
    {{ stripe_amount("(latest.payload ->> 'amount_captured')", "latest.payload ->> 'currency'") }}
        as amount_captured,
    {{ stripe_amount("(latest.payload ->> 'amount_refunded')", "latest.payload ->> 'currency'") }}
        as amount_refunded,
    upper(latest.payload ->> 'currency') as currency,
    latest.payload ->> 'failure_code' as failure_code,
    latest.payload -> 'shipping' ->> 'carrier' as shipping_carrier,
    latest.payload -> 'shipping' ->> 'tracking_number' as shipping_tracking_number,
    latest.payload -> 'metadata' ->> 'shopify_order_id' as metadata_shopify_order_id,
    latest.source_updated_at,
    latest.extracted_at
from latest
