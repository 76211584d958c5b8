{{
    config(meta={
        'raw_key': 'tracker_id',
        'change_keys': [['tracking_number', 'tracking_code']],
    })
}}

-- One row per carrier tracker (EasyPost-style): its latest version as of var('as_of'), the tracking code
-- normalised (trimmed, upper case) to match ShipHero label tracking numbers.
with

latest as (
    {{ latest_versions('tracking', 'tracking__trackers') }}
)

select
    latest.source_id as tracker_id,
    {{ normalize_tracking("latest.payload ->> 'tracking_code'") }} as tracking_code,
    latest.payload ->> 'carrier' as carrier,
    latest.payload ->> 'status' as status,
    latest.payload ->> 'status_detail' as status_detail,
    {{ iso_timestamp("latest.payload ->> 'created_at'") }} as created_at,
    {{ iso_timestamp("latest.payload ->> 'updated_at'") }} as updated_at,
    {{ iso_timestamp("latest.payload ->> 'est_delivery_date'") }} as est_delivery_at,
    -- the moment the carrier first reported the package delivered (tracking_details), if it did
    (
        select min({{ iso_timestamp("detail ->> 'datetime'") }})
        from jsonb_array_elements({{ json_nodes("latest.payload -> 'tracking_details'") }}) as detail
        where detail ->> 'status' = 'delivered'
    ) as delivered_at,
    latest.payload ->> 'shipment_id' as shipment_id,
    latest.source_updated_at,
    latest.extracted_at
from latest
