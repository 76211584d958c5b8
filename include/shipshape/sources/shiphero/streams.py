"""ShipHero's three streams: orders, shipments and warehouse inventory, each an incremental GraphQL listing.

| stream | raw table | listing | window filter (both bounds inclusive) | sorted by |
|---|---|---|---|---|
| orders | raw.shiphero__orders | `orders` | `updated_from` / `updated_to` | `updated_at` |
| shipments | raw.shiphero__shipments | `shipments` | `date_from` / `date_to` (creation) | `created_date` |
| inventory | raw.shiphero__inventory | `warehouse_products` | `updated_from` / `updated_to` | `updated_at` |

Each run lists [window start, window end] (the runner has already widened the start by the lookback;
a first run has no lower bound), with the upper bound fixed for the whole run so records changed during
the run wait for the next one. `pagination.walk` pages it without skipping anything.

Shipments: ShipHero's only time filter on shipments is their creation date, and a shipment carries no
update time. New shipments are what reconciliation needs (tracking numbers, shipped quantities); a
label voided later is not seen by an hourly window. Setting `shiphero_shipments_extra_lookback_hours`
re-reads older shipments on every run, at the price of their credits; a backfill re-reads any range.

Settings (`run_stream(settings=...)`): `shiphero_page_size` (100), `shiphero_line_items_first` (nested
line items per node, 5: most orders have fewer, and every one asked for costs a credit per node),
`shiphero_line_items_more` (25, per follow-up query), `shiphero_warehouse_id` (inventory of one warehouse
only), `shiphero_max_credits` / `shiphero_restore_rate` / `shiphero_probe_quota` (see `client`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import RetryPolicy
from shipshape.ingest.records import RawRecord, RecordError, parse_timestamp
from shipshape.ingest.stream import ExtractContext, Stream
from shipshape.sources.shiphero import schema
from shipshape.sources.shiphero.client import ShipHeroClient
from shipshape.sources.shiphero.pagination import complete, iso_bound, walk
from shipshape.sources.shiphero.ratelimit import (
    QUOTA_FIELD,
    connection_cost,
    operation_cost,
    page_size_within,
)

PAGE_INFO = "pageInfo { hasNextPage endCursor }"

ORDER_LINE_FIELDS = """id legacy_id sku partner_line_item_id product_id quantity quantity_shipped
  quantity_allocated quantity_pending_fulfillment backorder_quantity product_name option_title price
  fulfillment_status warehouse_id"""

ORDER_FIELDS = f"""id legacy_id order_number partner_order_id shop_name fulfillment_status order_date
  updated_at total_price subtotal total_tax total_discounts currency email profile tags ready_to_ship
  required_ship_date
  shipping_lines {{ title carrier method price }}
  shipping_address {{ first_name last_name company address1 address2 city state state_code zip country
    country_code email phone }}
  holds {{ fraud_hold address_hold shipping_method_hold operator_hold payment_hold client_hold }}
  line_items(first: $lines) {{ {PAGE_INFO} edges {{ node {{ {ORDER_LINE_FIELDS} }} }} }}"""

ORDERS_QUERY = f"""query ShipHeroOrders($from: ISODateTime, $to: ISODateTime, $first: Int!, $after: String,
    $lines: Int!) {{
  orders(updated_from: $from, updated_to: $to) {{
    request_id complexity
    data(first: $first, after: $after, sort: "updated_at") {{ {PAGE_INFO} edges {{ node {{ {ORDER_FIELDS} }} }} }}
  }}
  {QUOTA_FIELD}
}}"""

ORDER_LINES_QUERY = f"""query ShipHeroOrderLines($id: String!, $first: Int!, $after: String) {{
  order(id: $id) {{
    request_id complexity
    data {{ line_items(first: $first, after: $after) {{ {PAGE_INFO} edges {{ node {{ {ORDER_LINE_FIELDS} }} }} }} }}
  }}
  {QUOTA_FIELD}
}}"""

# No `legacy_id` here: the sandbox's shipment line item legacy ids overflow GraphQL's 32-bit Int (and
# the Relay id already identifies the row).
SHIPMENT_LINE_FIELDS = """id line_item_id shipment_id shipping_label_id quantity
  line_item { sku partner_line_item_id }"""

# The shipment's and its labels' `address` are left out: ShipHero derives them from the order, so they
# would make a new shipment "version" whenever the order's address is edited.
SHIPMENT_FIELDS = f"""id legacy_id order_id user_id warehouse_id pending_shipment_id profile picked_up
  needs_refund refunded delivered shipped_off_shiphero dropshipment completed created_date total_packages
  shipping_labels {{ id legacy_id shipment_id order_id order_number box_name status tracking_number
    tracking_url carrier shipping_name shipping_method cost source created_date warehouse_id delivered
    picked_up refunded needs_refund }}
  line_items(first: $lines) {{ {PAGE_INFO} edges {{ node {{ {SHIPMENT_LINE_FIELDS} }} }} }}"""

SHIPMENTS_QUERY = f"""query ShipHeroShipments($from: ISODateTime, $to: ISODateTime, $first: Int!,
    $after: String, $lines: Int!) {{
  shipments(date_from: $from, date_to: $to) {{
    request_id complexity
    data(first: $first, after: $after, sort: "created_date") {{ {PAGE_INFO} edges {{ node {{ {SHIPMENT_FIELDS} }} }} }}
  }}
  {QUOTA_FIELD}
}}"""

SHIPMENT_LINES_QUERY = f"""query ShipHeroShipmentLines($id: String!, $first: Int!, $after: String) {{
  shipment(id: $id) {{
    request_id complexity
    data {{ line_items(first: $first, after: $after) {{ {PAGE_INFO} edges {{ node {{ {SHIPMENT_LINE_FIELDS} }} }} }} }}
  }}
  {QUOTA_FIELD}
}}"""

INVENTORY_FIELDS = """id legacy_id account_id sku warehouse_id warehouse_identifier on_hand allocated
  reserve_inventory available backorder non_sellable_quantity in_tote sell_ahead active price value
  value_currency created_at updated_at"""

INVENTORY_QUERY = f"""query ShipHeroInventory($from: ISODateTime, $to: ISODateTime, $first: Int!,
    $after: String, $warehouse: String) {{
  warehouse_products(updated_from: $from, updated_to: $to, warehouse_id: $warehouse) {{
    request_id complexity
    data(first: $first, after: $after, sort: "updated_at") {{ {PAGE_INFO} edges {{ node {{ {INVENTORY_FIELDS} }} }} }}
  }}
  {QUOTA_FIELD}
}}"""


class ShipHeroStream(Stream):
    """One ShipHero listing, filtered by a time window and walked ascending by that time."""

    source = "shiphero"
    conn_id = "shiphero_default"
    field = ""  # the top-level query field
    query = ""
    sort_field = ""  # the node field the listing is sorted and windowed by
    nested = ""  # a nested connection asked with `$lines` (and completed by `more_query`), if any
    more_query = ""
    more_field = ""

    def __init__(self, *, retry: RetryPolicy | None = None, clock: Callable[[], float] | None = None) -> None:
        # Tests inject the retry policy's sleep and a clock that drives both it and the sandbox's credits.
        self.retry = retry
        self.clock = clock

    def open_client(self, conn: Connection, transport: httpx.BaseTransport | None = None) -> ShipHeroClient:
        return ShipHeroClient(conn, transport=transport, retry=self.retry, clock=self.clock or time.monotonic)

    def lower_bound(self, ctx: ExtractContext) -> datetime | None:
        return ctx.window.start

    def variables(self, ctx: ExtractContext) -> dict[str, Any]:
        return {}

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        client: ShipHeroClient = ctx.client
        settings = ctx.settings
        client.configure(settings)
        lines = int(settings.get("shiphero_line_items_first", 5)) if self.nested else 0
        more = int(settings.get("shiphero_line_items_more", 25))
        node_cost = connection_cost(lines) if self.nested else 0
        page_size = page_size_within(client.credits.capacity, node_cost, int(settings.get("shiphero_page_size", 100)))
        cost = operation_cost(connection_cost(page_size, node_cost))
        more_cost = operation_cost(connection_cost(more))
        upper = iso_bound(ctx.window.end, round_up=True)
        extra = {**self.variables(ctx), **({"lines": lines} if self.nested else {})}

        def fetch(bound: str | None, after: str | None) -> dict[str, Any]:
            variables = {"from": bound, "to": upper, "first": page_size, "after": after, **extra}
            return client.graphql(self.query, variables, field=self.field, cost=cost).get("data")

        def fetch_more(node_id: str, after: str) -> dict[str, Any]:
            wrapper = client.graphql(self.more_query, {"id": node_id, "first": more, "after": after},
                                     field=self.more_field, cost=more_cost)
            return (wrapper.get("data") or {}).get(self.nested) or {}

        newest: datetime | None = None
        follow_ups = pages = 0
        for nodes in walk(fetch, lower=self.lower_bound(ctx), sort_field=self.sort_field):
            pages += 1
            for node in nodes:
                if self.nested:
                    follow_ups += complete(node, self.nested, fetch_more)
                newest = _later(newest, node.get(self.sort_field))
            yield nodes
        previous = (ctx.previous_state or {}).get("newest_seen")
        ctx.new_state = {
            "window_end": ctx.window.end.isoformat(),
            "newest_seen": max(filter(None, [previous, newest.isoformat() if newest else None]), default=None),
        }
        ctx.log.info("%s: %d pages of %d (%d credits each), %d follow-ups for nested %s; %.0f credits spent, "
                     "%d refusals for credits, %.1f s waited", self.key, pages, page_size, cost, follow_ups,
                     self.nested or "-", client.credits.spent, client.throttled, client.waited)


def _later(current: datetime | None, value: Any) -> datetime | None:
    try:
        parsed = parse_timestamp(value, "sort", required=False)
    except RecordError:
        return current
    if parsed is None or (current is not None and parsed <= current):
        return current
    return parsed


class Orders(ShipHeroStream):
    name = "orders"
    field = "orders"
    query = ORDERS_QUERY
    sort_field = "updated_at"
    nested = "line_items"
    more_query = ORDER_LINES_QUERY
    more_field = "order"

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return schema.order_row(record)


class Shipments(ShipHeroStream):
    name = "shipments"
    field = "shipments"
    query = SHIPMENTS_QUERY
    sort_field = "created_date"
    nested = "line_items"
    more_query = SHIPMENT_LINES_QUERY
    more_field = "shipment"

    def lower_bound(self, ctx: ExtractContext) -> datetime | None:
        start = ctx.window.start
        extra = float(ctx.settings.get("shiphero_shipments_extra_lookback_hours", 0) or 0)
        return start - timedelta(hours=extra) if start is not None and extra > 0 else start

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return schema.shipment_row(record)


class Inventory(ShipHeroStream):
    name = "inventory"
    field = "warehouse_products"
    query = INVENTORY_QUERY
    sort_field = "updated_at"

    def variables(self, ctx: ExtractContext) -> dict[str, Any]:
        return {"warehouse": ctx.settings.get("shiphero_warehouse_id")}

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return schema.warehouse_product_row(record)
