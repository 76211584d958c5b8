{{ config(meta={'raw_key': 'inventory_item_gid'}) }}

-- One row per (inventory item, location): Shopify's stock of a SKU at a location, with the location's
-- fulfillment service (SPEC's inventory check sums the locations ShipHero fulfils, handle 'shiphero').
with

items as (
    {{ latest_versions('shopify', 'shopify__inventory_items') }}
),

levels as (
    select
        coalesce(
            (items.payload ->> 'legacyResourceId')::bigint,
            {{ shopify_legacy_id('items.source_id') }}
        ) as inventory_item_id,
        items.source_id as inventory_item_gid,
        items.payload ->> 'sku' as sku,
        level_node.item as level_json
    from items
    cross join
        lateral jsonb_array_elements(
            {{ json_nodes("items.payload -> 'inventoryLevels'") }}
        ) with ordinality as level_node (item, position)
)

select
    inventory_item_id,
    inventory_item_gid,
    sku,
    {{ shopify_legacy_id("level_json -> 'location' ->> 'id'") }} as location_id,
    level_json -> 'location' ->> 'id' as location_gid,
    level_json -> 'location' ->> 'name' as location_name,
    level_json -> 'location' -> 'fulfillmentService' ->> 'handle' as fulfillment_service_handle,
    (jsonb_path_query_first(level_json, '$.quantities[*] ? (@.name == "available").quantity') #>> '{}')::integer
        as available,
    (jsonb_path_query_first(level_json, '$.quantities[*] ? (@.name == "on_hand").quantity') #>> '{}')::integer
        as on_hand,
    level_json ->> 'id' as inventory_level_gid
from levels
