"""The Shopify streams: orders and inventory items, extracted incrementally by `updated_at`.

Each run reads `updated_at:>='<start>' AND updated_at:<'<end>'` (the runner's window: from the stream's
high-water mark or the data interval's start, widened back by the lookback, so a gap after missed runs is
read too). The window is read:

- by a Bulk Operation on a first load (no start: the whole history) or when it is longer than
  `bulk_threshold_hours` (default 7 days), where paging would spend hours of rate limit;
- else by cursor paging, sorted by `UPDATED_AT` (orders; inventory items page by id, as Shopify offers).

Both give the same records in the same shape. Settings (`ctx.settings`, e.g. from the DAG): `bulk`
(True/False forces a path), `bulk_threshold_hours`, `page_size`, `nested_page_size`,
`bulk_poll_seconds`, `bulk_poll_max_seconds`, `bulk_timeout_seconds`.

The cursor saved in `ops.extraction_state`: `window_end` (the latest end read through), `updated_at_max`
(the latest update seen), `mode` (bulk or paged) and, for bulk, the operation's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.records import RawRecord
from shipshape.ingest.stream import ExtractContext, Stream
from shipshape.sources.shopify.bulk import BulkExport, BulkOptions
from shipshape.sources.shopify.client import ShopifyClient
from shipshape.sources.shopify.pagination import Pager
from shipshape.sources.shopify.queries import INVENTORY_ITEMS, ORDERS, Root, search_query
from shipshape.sources.shopify.schema import inventory_item_row, order_row

DEFAULTS: dict[str, Any] = {
    "bulk": None,  # None: bulk for first loads and long windows; True/False: always/never
    "bulk_threshold_hours": 7 * 24,
    "page_size": 250,  # Shopify's maximum; cut down automatically if a page would cost too much
    "nested_page_size": 250,  # line items / fulfillment line items / inventory levels inline per record
    "bulk_poll_seconds": 0.1,
    "bulk_poll_max_seconds": 10.0,
    "bulk_timeout_seconds": 4 * 3600.0,
}


class ShopifyStream(Stream):
    source = "shopify"
    conn_id = "shopify_default"
    root: Root

    def __init__(self, **client_options: Any) -> None:
        # Passed to ShopifyClient (tests inject a clock and a retry policy with a fake sleep).
        self.client_options = client_options

    def open_client(self, conn: Connection, transport: httpx.BaseTransport | None = None) -> ShopifyClient:
        return ShopifyClient.from_connection(conn, transport, **self.client_options)

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        options = {**DEFAULTS, **ctx.settings}
        previous = ctx.previous_state or {}
        previous_end = _time(previous.get("window_end"))
        start, end = ctx.window.start, ctx.window.end
        search = search_query(start, end)
        long_window = start is None or end - start > timedelta(hours=float(options["bulk_threshold_hours"]))
        use_bulk = long_window if options["bulk"] is None else bool(options["bulk"])
        ctx.log.info("%s: %s via %s", self.key, search, "a bulk operation" if use_bulk else "paging")

        latest = _Latest(previous.get("updated_at_max"))
        client: ShopifyClient = ctx.client
        state: dict[str, Any] = {}
        if use_bulk:
            export = BulkExport(client, self.root, BulkOptions(
                page_size=int(options["page_size"]), poll_first=float(options["bulk_poll_seconds"]),
                poll_max=float(options["bulk_poll_max_seconds"]), timeout=float(options["bulk_timeout_seconds"])))
            for page in export.pages(search):
                latest.see(page)
                yield page
            ctx.api_reported_count = export.root_object_count  # Shopify's own count of records exported
            state = {"mode": "bulk", "bulk_operation_id": (export.operation or {}).get("id")}
        else:
            pager = Pager(client, self.root, page_size=int(options["page_size"]),
                          nested_first=int(options["nested_page_size"]))
            for page in pager.pages(search):
                latest.see(page)
                yield page
            state = {"mode": "paged"}  # Shopify reports no total for a search, so no api_reported_count
        window_end = max(end, previous_end) if previous_end is not None else end
        ctx.new_state = {"window_end": window_end.isoformat(), "updated_at_max": latest.value, **state}

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        raise NotImplementedError


class OrdersStream(ShopifyStream):
    name = "orders"
    root = ORDERS

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return order_row(record)


class InventoryItemsStream(ShopifyStream):
    name = "inventory_items"
    root = INVENTORY_ITEMS

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return inventory_item_row(record)


class _Latest:
    """The latest `updatedAt` seen (as Shopify wrote it), ignoring values that don't parse."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self._at = _time(value)

    def see(self, page: list[dict[str, Any]]) -> None:
        for record in page:
            text = record.get("updatedAt")
            if not isinstance(text, str) or (self.value is not None and text <= self.value):
                continue  # same format throughout, so text order is time order: parse only candidates
            moment = _time(text)
            if moment is not None and (self._at is None or moment > self._at):
                self.value, self._at = text, moment


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
