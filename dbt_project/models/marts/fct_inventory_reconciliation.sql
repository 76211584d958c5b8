{{ config(post_hook="{{ describe_mismatch_flags('sku') }}") }}
-- depends_on: {{ ref('mismatch_codes') }}  -- describe_mismatch_flags reads it

-- One row per SKU known to Shopify or ShipHero: Shopify's available quantity summed over the locations
-- ShipHero fulfils (fulfillment service handle `shiphero`), ShipHero's available quantity (on hand -
-- allocated - reserve, summed over its warehouses), and INVENTORY_MISMATCH (docs/mismatch-codes.md): the
-- two differ by more than var('inventory_tolerance'). A SKU one side lacks counts 0 there.

with

shopify_levels as (
    select * from {{ ref('stg_shopify__inventory_levels') }}
),

shiphero_inventory as (
    select * from {{ ref('stg_shiphero__inventory') }}
),

shopify as (
    select
        sku,
        coalesce(sum(available) filter (where fulfillment_service_handle = 'shiphero'), 0) as available
    from shopify_levels
    where sku is not null
    group by sku
),

shiphero as (
    select
        sku,
        sum(available) as available
    from shiphero_inventory
    where sku is not null
    group by sku
),

compared as (
    select
        coalesce(shopify.sku, shiphero.sku) as sku,
        coalesce(shopify.available, 0) as shopify_available,
        coalesce(shiphero.available, 0) as shiphero_available
    from shopify
    full outer join shiphero
        on shopify.sku = shiphero.sku
)

select
    sku,
    shopify_available,
    shiphero_available,
    shopify_available - shiphero_available as difference,
    abs(shopify_available - shiphero_available) > {{ var('inventory_tolerance') }} as inventory_mismatch,
    {{ as_of() }} as as_of
from compared
