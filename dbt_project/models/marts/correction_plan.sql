-- The correction plan (docs/mismatch-codes.md "Corrections"): one row per action that would make the system
-- that is wrong agree with the system that is right, as of var('as_of'). Only correctable codes appear
-- (alert-only codes have no action). The order actions are int_order_corrections's (kept incrementally);
-- the inventory actions, at the SKU grain, are planned here. The idempotency key is a SHA-256 of target
-- system, action and payload (jsonb's canonical text), so two builds that plan the same change give the
-- same key, and the push task never sends a key twice.

with

order_actions as (
    select * from {{ ref('int_order_corrections') }}
),

inventory as (
    select * from {{ ref('fct_inventory_reconciliation') }}
),

shopify_levels as (
    select * from {{ ref('stg_shopify__inventory_levels') }}
),

-- per SKU: set Shopify's available at the location ShipHero fulfils from (the lowest location id when
-- there are several) so that the sum over ShipHero's locations equals ShipHero's available
shiphero_locations as (
    select
        sku,
        inventory_item_id,
        location_id,
        available,
        row_number() over (partition by sku order by location_id) as location_rank,
        sum(available) over (partition by sku) - available as available_elsewhere
    from shopify_levels
    where fulfillment_service_handle = 'shiphero' and sku is not null
),

inventory_mismatch as (
    select
        'shopify' as target_system,
        'inventory_level' as target_object,
        shiphero_locations.inventory_item_id::text || '@' || shiphero_locations.location_id::text as target_object_id,
        'inventory_set_available' as action,  -- noqa: RF04
        'inventorySetQuantities' as api_operation,
        jsonb_build_object(
            'sku', inventory.sku,
            'inventory_item_id', shiphero_locations.inventory_item_id::text,
            'location_id', shiphero_locations.location_id::text,
            'shiphero_available', inventory.shiphero_available,
            'shopify_available', shiphero_locations.available,
            'quantity', inventory.shiphero_available - shiphero_locations.available_elsewhere
        ) as payload,
        jsonb_build_object('available', shiphero_locations.available) as before_state,
        array['INVENTORY_MISMATCH'] as mismatch_codes,
        null::bigint as shopify_order_id,
        inventory.sku
    from inventory
    inner join shiphero_locations
        on
            inventory.sku = shiphero_locations.sku
            and shiphero_locations.location_rank = 1
    where inventory.inventory_mismatch
),

actions as (
    select
        target_system,
        target_object,
        target_object_id,
        action,
        api_operation,
        payload,
        before_state,
        mismatch_codes,
        shopify_order_id,
        order_name,
        null::text as sku,
        currency,
        amount_at_risk
    from order_actions
    union all
    select
        target_system,
        target_object,
        target_object_id,
        action,
        api_operation,
        payload,
        before_state,
        mismatch_codes,
        shopify_order_id,
        null::text as order_name,
        sku,
        null::text as currency,
        0::numeric as amount_at_risk
    from inventory_mismatch
),

-- the codes of each severity, from the seed (one row)
severities as (
    select
        coalesce(array_agg(code) filter (where severity = 'high'), '{}') as high_codes,
        coalesce(array_agg(code) filter (where severity = 'medium'), '{}') as medium_codes
    from {{ ref('mismatch_codes') }}
)

select
    actions.target_system || ':' || actions.target_object || ':' || actions.target_object_id || ':' || actions.action
        as action_id,
    actions.target_system,
    actions.target_object,
    actions.target_object_id,
    actions.action,
    actions.api_operation,
    actions.payload,
    actions.before_state,
    actions.mismatch_codes,
    -- the highest severity among the codes it answers
    case
        when actions.mismatch_codes && severities.high_codes then 'high'
        when actions.mismatch_codes && severities.medium_codes then 'medium'
        else 'low'
    end as severity,
    actions.shopify_order_id,
    actions.order_name,
    actions.sku,
    actions.currency,
    actions.amount_at_risk,
    encode(
        sha256(convert_to(actions.target_system || '|' || actions.action || '|' || actions.payload::text, 'UTF8')),
        'hex'
    ) as idempotency_key,
    {{ as_of() }} as as_of
from actions
cross join severities
