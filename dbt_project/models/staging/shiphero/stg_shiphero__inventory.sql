{{ config(meta={'raw_key': 'warehouse_product_id'}) }}

-- One row per (SKU, warehouse) of ShipHero's physical stock: its latest version as of var('as_of'), with
-- SPEC's available = on hand - allocated - reserve (ShipHero's own `available` kept as reported).
with

latest as (
    {{ latest_versions('shiphero', 'shiphero__inventory') }}
),

typed as (
    select
        latest.source_id as warehouse_product_id,
        latest.payload ->> 'sku' as sku,
        latest.payload ->> 'warehouse_id' as warehouse_id,
        latest.payload ->> 'warehouse_identifier' as warehouse_identifier,
        coalesce((latest.payload ->> 'on_hand')::integer, 0) as on_hand,
        coalesce((latest.payload ->> 'allocated')::integer, 0) as allocated,
        coalesce((latest.payload ->> 'reserve_inventory')::integer, 0) as reserve,
        coalesce((latest.payload ->> 'backorder')::integer, 0) as backorder,
        (latest.payload ->> 'available')::integer as available_reported,
        coalesce((latest.payload ->> 'active')::boolean, true) as active,
        {{ iso_timestamp("latest.payload ->> 'updated_at'") }} as updated_at,
        latest.source_updated_at,
        latest.extracted_at
    from latest
)

select
    warehouse_product_id,
    sku,
    warehouse_id,
    warehouse_identifier,
    on_hand,
    allocated,
    reserve,
    backorder,
    available_reported,
    on_hand - allocated - reserve as available,
    active,
    updated_at,
    source_updated_at,
    extracted_at
from typed
