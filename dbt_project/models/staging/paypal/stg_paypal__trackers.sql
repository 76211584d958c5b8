{{
    config(meta={
        'raw_key': 'tracker_id',
        'change_keys': [['payment', "'paypal:' || transaction_id"]],
    })
}}

-- One row per PayPal shipment tracker (Add Tracking API): its latest version as of var('as_of'), the
-- tracking number normalised (trimmed, upper case).
with

latest as (
    {{ latest_versions('paypal', 'paypal__trackers') }}
)

select
    latest.source_id as tracker_id,
    latest.payload ->> 'transaction_id' as transaction_id,
    {{ normalize_payment_ref("latest.payload ->> 'transaction_id'") }} as transaction_id_norm,
    {{ normalize_tracking("latest.payload ->> 'tracking_number'") }} as tracking_number,
    latest.payload ->> 'carrier' as carrier,
    latest.payload ->> 'status' as status,
    (latest.payload ->> 'shipment_date')::date as shipment_date,
    {{ iso_timestamp("latest.payload ->> 'last_updated_time'") }} as updated_at,
    latest.source_updated_at,
    latest.extracted_at
from latest
