{{
    config(meta={
        'raw_key': 'refund_id',
        'change_keys': [['stripe_charge', 'charge_id'], ['payment', "'stripe:' || payment_intent_id"]],
    })
}}

-- One row per Stripe Refund: its latest version as of var('as_of'), money in major units.
with

latest as (
    {{ latest_versions('stripe', 'stripe__refunds') }}
)

select
    latest.source_id as refund_id,
    case jsonb_typeof(latest.payload -> 'charge')
        when 'object' then latest.payload -> 'charge' ->> 'id'
        else latest.payload ->> 'charge'
    end as charge_id,
    case jsonb_typeof(latest.payload -> 'payment_intent')
        when 'object' then latest.payload -> 'payment_intent' ->> 'id'
        else latest.payload ->> 'payment_intent'
    end as payment_intent_id,
    {{ stripe_amount("(latest.payload ->> 'amount')", "latest.payload ->> 'currency'") }} as amount,
    upper(latest.payload ->> 'currency') as currency,
    latest.payload ->> 'status' as status,
    latest.payload ->> 'reason' as reason,
    {{ epoch_timestamp("latest.payload ->> 'created'") }} as created_at,
    latest.source_updated_at,
    latest.extracted_at
from latest
