"""Shopify: orders and inventory items from the GraphQL Admin API into `raw.shopify__orders` and
`raw.shopify__inventory_items`.

Connection `shopify_default`: host `<shop>.myshopify.com` (or the sandbox's), password = the Admin API
access token, `extra.api_version` (default 2025-10), `extra.base_path` (empty for the real service).

- `client`: token auth, cost-aware throttling, bulk result downloads
- `ratelimit`: the arithmetic of Shopify's query-cost bucket
- `queries`: every GraphQL document, rendered from one selection per stream
- `pagination`: cursor paging, top level and nested
- `bulk`: Bulk Operations (first loads, long backfills) and reassembly of their JSONL
- `schema`: the raw row of each stream and its checks
- `streams`: the streams, their windows and cursors
"""

from shipshape.sources.shopify.streams import InventoryItemsStream, OrdersStream

STREAMS = [OrdersStream(), InventoryItemsStream()]
