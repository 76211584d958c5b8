{{
    config(meta={
        'raw_key': 'shipment_id',
        'change_keys': [['shipment', 'shipment_id'], ['shiphero_order', 'shiphero_order_id']],
    })
}}

-- One row per ShipHero shipment: its latest version as of var('as_of').
with

latest as (
    {{ latest_versions('shiphero', 'shiphero__shipments') }}
)

select
    latest.source_id as shipment_id,
    (latest.payload ->> 'legacy_id')::bigint as legacy_id,
    latest.payload ->> 'order_id' as shiphero_order_id,
    latest.payload ->> 'warehouse_id' as warehouse_id,
    {{ iso_timestamp("latest.payload ->> 'created_date'") }} as created_at,
    coalesce((latest.payload ->> 'shipped_off_shiphero')::boolean, false) as shipped_off_shiphero,
    coalesce((latest.payload ->> 'completed')::boolean, false) as completed,
    coalesce((latest.payload ->> 'delivered')::boolean, false) as delivered,
    (latest.payload ->> 'total_packages')::integer as total_packages,
    latest.source_updated_at,
    latest.extracted_at
from latest
