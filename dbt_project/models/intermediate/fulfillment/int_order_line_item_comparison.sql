{{ config(meta={'scope': ['order', 'shopify_order_id']}) }}
{{ scope_dependencies('order') }}
-- One row per Shopify order with a (current) ShipHero order: docs/mismatch-codes.md "Comparisons", line items:
-- the map of SKU to quantity, zero quantities left out, Shopify's current quantity (after edits and
-- removals; every line, a missing SKU counting as '') against ShipHero's quantity.

with

links as (
    select * from {{ ref('int_shiphero_order_links') }}
    where is_current and {{ in_scope('shopify_order_id') }}
),

shopify_lines as (
    select * from {{ ref('stg_shopify__order_lines') }}
),

shiphero_lines as (
    select * from {{ ref('stg_shiphero__order_lines') }}
),

shopify_quantities as (
    select
        links.shopify_order_id,
        coalesce(shopify_lines.sku, '') as sku,
        sum(coalesce(shopify_lines.current_quantity, 0)) as quantity
    from links
    inner join shopify_lines
        on links.shopify_order_id = shopify_lines.shopify_order_id
    group by links.shopify_order_id, coalesce(shopify_lines.sku, '')
),

shiphero_quantities as (
    select
        links.shopify_order_id,
        coalesce(shiphero_lines.sku, '') as sku,
        sum(coalesce(shiphero_lines.quantity, 0)) as quantity
    from links
    inner join shiphero_lines
        on links.shiphero_order_id = shiphero_lines.shiphero_order_id
    group by links.shopify_order_id, coalesce(shiphero_lines.sku, '')
),

compared as (
    select
        coalesce(shopify_quantities.shopify_order_id, shiphero_quantities.shopify_order_id)
            as shopify_order_id,
        coalesce(shopify_quantities.sku, shiphero_quantities.sku) as sku,
        coalesce(shopify_quantities.quantity, 0) as shopify_quantity,
        coalesce(shiphero_quantities.quantity, 0) as shiphero_quantity
    from shopify_quantities
    full outer join shiphero_quantities
        on
            shopify_quantities.shopify_order_id = shiphero_quantities.shopify_order_id
            and shopify_quantities.sku = shiphero_quantities.sku
),

by_order as (
    select
        shopify_order_id,
        jsonb_object_agg(sku, shopify_quantity) filter (where shopify_quantity != 0) as shopify_items,
        jsonb_object_agg(sku, shiphero_quantity) filter (where shiphero_quantity != 0) as shiphero_items,
        bool_or(shopify_quantity != shiphero_quantity) as line_items_differ
    from compared
    group by shopify_order_id
)

select
    links.shopify_order_id,
    links.shiphero_order_id,
    coalesce(by_order.shopify_items, '{}'::jsonb) as shopify_items,
    coalesce(by_order.shiphero_items, '{}'::jsonb) as shiphero_items,
    coalesce(by_order.line_items_differ, false) as line_items_differ
from links
left join by_order
    on links.shopify_order_id = by_order.shopify_order_id
