{{ config(meta={'raw_key': 'inventory_item_gid'}) }}

-- One row per Shopify inventory item (a SKU's stock record): its latest version as of var('as_of').
with

latest as (
    {{ latest_versions('shopify', 'shopify__inventory_items') }}
)

select
    coalesce(
        (latest.payload ->> 'legacyResourceId')::bigint,
        {{ shopify_legacy_id('latest.source_id') }}
    ) as inventory_item_id,
    latest.source_id as inventory_item_gid,
    latest.payload ->> 'sku' as sku,
    coalesce((latest.payload ->> 'tracked')::boolean, true) as tracked,
    {{ iso_timestamp("latest.payload ->> 'updatedAt'") }} as updated_at,
    latest.source_updated_at,
    latest.extracted_at
from latest
