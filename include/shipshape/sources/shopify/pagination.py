"""Shopify's cursor pagination, top level and nested, ending in the same record shape as a bulk export.

Top level: `first` + `after: pageInfo.endCursor` until `hasNextPage` is false, sorted by the stream's
sort key. Shopify serves at most 250 nodes a page and refuses a query whose requested cost exceeds 1000
points (`MAX_COST_EXCEEDED`); the page size starts at the configured size (250) and is cut whenever
Shopify says a page costs too much, so a page always fits.

Nested connections (an order's line items, a fulfillment's line items, an item's inventory levels) come
with their first `nested_first` nodes inline (250 at most, Shopify's cap per connection). An object whose
nested connection has more is completed with follow-up `node(id:)` queries, so no nested list is ever
cut short. The `pageInfo` of nested connections is then dropped: a record is exactly
`{"lineItems": {"nodes": [...]}, ...}` whether it was paged or exported in bulk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from shipshape.sources.shopify.client import QueryCostExceeded, ShopifyClient
from shipshape.sources.shopify.queries import Node, Root, follow_up_query, shrink

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 250  # Shopify's cap on `first`, top level and nested


class Pager:
    """Pages of one root connection for one search query, each record completed."""

    def __init__(self, client: ShopifyClient, root: Root, *, page_size: int = MAX_PAGE_SIZE,
                 nested_first: int = MAX_PAGE_SIZE) -> None:
        self.client = client
        self.root = root
        self.first = max(1, min(page_size, MAX_PAGE_SIZE))
        self.nested_first = max(1, min(nested_first, MAX_PAGE_SIZE))
        self.query = root.page_query(self.nested_first)
        self.follow_ups = 0  # extra requests for nested connections longer than one page

    def pages(self, search: str) -> Iterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            try:
                data = self.client.graphql(self.query, {"first": self.first, "after": after, "query": search})
            except QueryCostExceeded as exc:
                smaller = shrink(self.first, exc.cost, exc.limit)
                if smaller is None:
                    raise
                log.info("shopify: %s pages of %d cost %g points (limit %g): asking for %d a page",
                         self.root.field, self.first, exc.cost, exc.limit, smaller)
                self.first = smaller
                continue
            connection = data[self.root.field]
            records = connection["nodes"]
            for record in records:
                self.complete(record, self.root.node)
            yield records
            page_info = connection["pageInfo"]
            if not page_info["hasNextPage"]:
                return
            after = page_info["endCursor"]

    def complete(self, record: dict[str, Any], node: Node) -> None:
        """Fetch what nested connections left out, and reduce each to `{"nodes": [...]}`, in place."""
        for name, child in node.lists:
            for item in record.get(name) or ():
                if isinstance(item, dict):
                    self.complete(item, child)
        for conn in node.connections:
            value = record.get(conn.field)
            if not isinstance(value, dict):
                continue
            nodes = value["nodes"]
            page_info = value.get("pageInfo") or {}
            cursor = page_info.get("endCursor")
            # An object without a usable id can't be asked for the rest; it fails its checks anyway.
            more = page_info.get("hasNextPage") and isinstance(record.get("id"), str)
            while more:
                self.follow_ups += 1
                data = self.client.graphql(follow_up_query(node, conn, self.nested_first),
                                           {"id": record["id"], "first": self.nested_first, "after": cursor})
                rest = (data.get("node") or {}).get(conn.field) or {"nodes": [], "pageInfo": {}}
                nodes.extend(rest["nodes"])
                cursor = rest["pageInfo"].get("endCursor")
                more = rest["pageInfo"].get("hasNextPage")
            for item in nodes:
                if isinstance(item, dict):
                    self.complete(item, conn.node)
            record[conn.field] = {"nodes": nodes}
