"""The GraphQL documents the Shopify streams send, all rendered from one node selection per stream.

A stream's selection is a small tree (`Node`): plain fields as GraphQL text, the list fields whose
objects hold connections (`Order.fulfillments`), and the connections (`Order.lineItems`). From that one
tree come the paged query (`nodes` + `pageInfo` on every connection), the Bulk Operation query (which
flattens every connection into JSONL lines) and the follow-up query for a nested connection longer than
one page, so the paged and the bulk paths select exactly the same fields and can be reassembled into
exactly the same record shape (see `pagination.complete` and `bulk.Reassembler`).

Every connection node selects `id`: Shopify requires it of a bulk parent, and the bulk reassembly tells a
child line's connection by the type in its global id (`gid://shopify/LineItem/…`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONEY = "shopMoney { amount currencyCode }"  # shop currency only: the sandbox shop has one currency per order
GID = re.compile(r"gid://shopify/([A-Za-z]+)/")


@dataclass(frozen=True)
class Conn:
    """A connection field (`lineItems`) and the selection on each of its nodes."""

    field: str
    node: Node


@dataclass(frozen=True)
class Node:
    """The selection on one object type: plain fields, list fields that hold connections, connections."""

    type: str  # the GraphQL type; also the type named in its nodes' global ids
    fields: str  # scalars and plain objects (no connections below them), as GraphQL selection text
    lists: tuple[tuple[str, Node], ...] = ()  # list fields (not connections) whose objects hold connections
    connections: tuple[Conn, ...] = ()

    def selection(self, mode: str, nested_first: int) -> str:
        """The selection text for `mode` "page" (nodes + pageInfo, `first`) or "bulk" (edges, no paging)."""
        parts = [self.fields]
        for name, node in self.lists:
            parts.append(f"{name} {{ {node.selection(mode, nested_first)} }}")
        for conn in self.connections:
            inner = conn.node.selection(mode, nested_first)
            if mode == "bulk":
                # Bulk queries ignore paging: every connection is exported whole, one JSONL line per node.
                # `edges { node }` is the form Shopify documents for bulk queries.
                parts.append(f"{conn.field} {{ edges {{ node {{ {inner} }} }} }}")
            else:
                parts.append(f"{conn.field}(first: {nested_first}) {{ nodes {{ {inner} }} "
                             "pageInfo { hasNextPage endCursor } }")
        return " ".join(parts)

    @property
    def holds_connections(self) -> bool:
        return bool(self.connections) or any(node.holds_connections for _, node in self.lists)


@dataclass(frozen=True)
class Root:
    """A top-level connection a stream reads, with the sort key that keeps its pages in update order."""

    field: str  # orders | inventoryItems
    node: Node
    sort_key: str | None  # inventoryItems has no sortKey argument: it pages by id

    def page_query(self, nested_first: int) -> str:
        sort = f", sortKey: {self.sort_key}" if self.sort_key else ""
        return (f"query ShipshapePage($first: Int!, $after: String, $query: String) {{ "
                f"{self.field}(first: $first, after: $after, query: $query{sort}) {{ "
                f"nodes {{ {self.node.selection('page', nested_first)} }} "
                "pageInfo { hasNextPage endCursor } } }")

    def bulk_query(self, search: str) -> str:
        sort = f", sortKey: {self.sort_key}" if self.sort_key else ""
        # A GraphQL string literal has JSON's escapes, so json.dumps quotes the search text safely.
        return (f"{{ {self.field}(query: {json.dumps(search)}{sort}) {{ "
                f"edges {{ node {{ {self.node.selection('bulk', 0)} }} }} }} }}")


def follow_up_query(parent: Node, conn: Conn, nested_first: int) -> str:
    """The rest of one object's connection, after the first page came inline with the object."""
    return (f"query ShipshapeMore($id: ID!, $first: Int!, $after: String) {{ node(id: $id) {{ "
            f"... on {parent.type} {{ {conn.field}(first: $first, after: $after) {{ "
            f"nodes {{ {conn.node.selection('page', nested_first)} }} "
            "pageInfo { hasNextPage endCursor } } } } }")


def gid_type(value: object) -> str | None:
    """`LineItem` for `gid://shopify/LineItem/1`; None for anything else."""
    match = GID.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def search_query(start: datetime | None, end: datetime) -> str:
    """Shopify search syntax for `updated_at` in [start, end).

    Shopify's search compares whole seconds, so the window is widened to whole seconds (start down, end
    up): a record at the edge may come twice across windows, never not at all.
    """
    end_text = _second(end, up=True)
    if start is None:
        return f"updated_at:<'{end_text}'"
    return f"updated_at:>='{_second(start, up=False)}' AND updated_at:<'{end_text}'"


def _second(moment: datetime, *, up: bool) -> str:
    moment = moment.astimezone(UTC)
    whole = moment.replace(microsecond=0)
    if up and whole != moment:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


def shrink(first: int, cost: float, limit: float) -> int | None:
    """A smaller page size for a query that cost `cost` where `limit` is allowed; None below 1.

    Shopify sizes a connection's cost by its `first` (the sandbox, as Shopify now does, logarithmically),
    so proportional shrinking alone can take many steps: halve at least.
    """
    if first <= 1:
        return None
    proportional = math.floor(first * limit / cost) if cost > 0 else first // 2
    return max(1, min(first // 2, proportional))


# ------------------------------------------------------------------------------------------- streams
LINE_ITEM = Node(
    "LineItem",
    f"id sku quantity currentQuantity requiresShipping name variantTitle originalUnitPriceSet {{ {MONEY} }}",
)
FULFILLMENT_LINE_ITEM = Node("FulfillmentLineItem", "id quantity lineItem { id }")
FULFILLMENT = Node(
    "Fulfillment",
    "id status createdAt updatedAt trackingInfo { number company url }",
    connections=(Conn("fulfillmentLineItems", FULFILLMENT_LINE_ITEM),),
)
ORDER = Node(
    "Order",
    " ".join([
        "id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason closedAt email",
        "currencyCode displayFinancialStatus displayFulfillmentStatus",
        *(f"{name} {{ {MONEY} }}" for name in (
            "totalPriceSet", "currentTotalPriceSet", "subtotalPriceSet", "currentSubtotalPriceSet",
            "totalReceivedSet", "totalRefundedSet")),
        "shippingAddress { name firstName lastName address1 address2 city province provinceCode zip country",
        "countryCodeV2 phone company }",
        f"shippingLine {{ code title source originalPriceSet {{ {MONEY} }} }}",
        # `transactions` and `fulfillments` are lists, not connections: without `first` Shopify returns
        # them whole, so nothing is truncated and bulk and paged records agree.
        f"transactions {{ id kind status gateway amountSet {{ {MONEY} }} authorizationCode receiptJson",
        "createdAt processedAt parentTransaction { id } }",
    ]),
    lists=(("fulfillments", FULFILLMENT),),
    connections=(Conn("lineItems", LINE_ITEM),),
)
INVENTORY_LEVEL = Node(
    "InventoryLevel",
    'id location { id name fulfillmentService { handle serviceName } } '
    'quantities(names: ["available", "on_hand"]) { name quantity }',
)
INVENTORY_ITEM = Node(
    "InventoryItem",
    "id sku tracked updatedAt",
    connections=(Conn("inventoryLevels", INVENTORY_LEVEL),),
)

ORDERS = Root("orders", ORDER, "UPDATED_AT")
INVENTORY_ITEMS = Root("inventoryItems", INVENTORY_ITEM, None)
