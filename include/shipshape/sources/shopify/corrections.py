"""The Shopify writer of the corrections push: fulfillments with tracking (`fulfillmentCreate`, or
`fulfillmentTrackingInfoUpdate` when nothing is left to fulfil) and inventory (`inventorySetQuantities`).

Shopify's Admin API has no idempotency keys, so the order or inventory level is read right before
writing (`writers.checked_write`): a fulfillment is skipped when Shopify already carries every tracking
number and nothing is left to fulfil, and a quantity already at the target is skipped.

Inventory never acts on stale data. The plan recorded Shopify's available when it was made
(`before_state.available`, also `payload.shopify_available`). If Shopify's available now differs, Shopify
has moved on (a sale, a manual edit): the action is skipped, naming the SKU, the location, what the plan
saw and what Shopify has now. Otherwise the quantity is set with `compareQuantity` = what the plan saw, so
a change between the read and the write is refused by Shopify, and that refusal (COMPARE_QUANTITY_STALE)
also ends as a skip with the reason, never a retry. The quantity set is ShipHero's available read at write
time (through the ShipHero connection), less what the other ShipHero-fulfilled locations hold, so this
push's own order corrections (which move ShipHero's allocations) do not leave a new gap. One exception to
"moved on": when Shopify's available moved by exactly as much as ShipHero's since the plan, that is
ShipHero's inventory sync copying ShipHero's move (typically this push's own order corrections), not a
Shopify sale or edit; the gap the plan saw still stands, the quantity set already accounts for the move,
and the write compares against the value just read. Without a ShipHero connection the plan's quantity is
set and any move counts. A plan row that recorded no earlier value compares against the value just read.
Mutations go without the client's blind retries; cost throttling is the client's.
"""

from __future__ import annotations

from typing import Any

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.corrections.writers import (
    Outcome,
    WriteError,
    WriterOptions,
    checked_write,
    guard_host,
    single_attempt,
)
from shipshape.sources.shiphero.client import ShipHeroClient
from shipshape.sources.shopify.client import ShopifyClient

ORDER_QUERY = """
query CorrectionOrder($id: ID!) {
  order(id: $id) {
    id
    displayFulfillmentStatus
    fulfillments(first: 50) { id status trackingInfo(first: 20) { number company } }
    fulfillmentOrders(first: 20) {
      nodes { id status lineItems(first: 100) { nodes { id remainingQuantity } } }
    }
  }
}
"""
FULFILLMENT_CREATE = """
mutation CorrectionFulfill($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 20) { number company } }
    userErrors { field message }
  }
}
"""
TRACKING_UPDATE = """
mutation CorrectionTracking($fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput,
                                notifyCustomer: false) {
    fulfillment { id status trackingInfo(first: 20) { number company } }
    userErrors { field message }
  }
}
"""
LEVEL_QUERY = """
query CorrectionLevel($location: ID!, $item: ID!) {
  location(id: $location) {
    inventoryLevel(inventoryItemId: $item) { id quantities(names: ["available"]) { name quantity } }
  }
}
"""
SET_QUANTITIES = """
mutation CorrectionInventory($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id reason changes { name delta } }
    userErrors { field message code }
  }
}
"""
PRODUCT_QUERY = ("query CorrectionStock($sku: String) { product(sku: $sku) { request_id complexity"
                 " data { sku warehouse_products { available } } } }")
FULFILLABLE = ("OPEN", "IN_PROGRESS")
COMPARE_STALE = "COMPARE_QUANTITY_STALE"  # inventorySetQuantities: compareQuantity is not the stored value


def _gid(kind: str, value: Any) -> str:
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def _norm(number: Any) -> str:
    return str(number or "").strip().upper()


def _user_errors(payload: dict[str, Any] | None, what: str) -> None:
    errors = (payload or {}).get("userErrors") or []
    if errors:
        messages = "; ".join(f"{'.'.join(e.get('field') or [])}: {e.get('message')}" for e in errors[:5])
        raise WriteError(f"shopify {what} refused: {messages}", response=errors)


class ShopifyWriter:
    target = "shopify"

    def __init__(self, client: ShopifyClient, options: WriterOptions) -> None:
        self.client = client
        self.options = options
        self._shiphero: ShipHeroClient | None = None

    def close(self) -> None:
        self.client.close()
        if self._shiphero is not None:
            self._shiphero.close()

    def _shiphero_available(self, sku: str) -> int | None:
        """ShipHero's available for `sku` now (summed over its warehouses), or None without a connection.

        The plan's quantity was computed at the as-of; ShipHero's stock moves in between (sales, and this
        very push: order corrections allocate stock), so the quantity set is ShipHero's at write time."""
        conn = self.options.connections.get("shiphero")
        if conn is None:
            return None
        if self._shiphero is None:
            self._shiphero = ShipHeroClient(conn, transport=self.options.transport, retry=self.options.retry)
            guard_host(self._shiphero, conn)
        product = self._shiphero.graphql(PRODUCT_QUERY, {"sku": sku}, field="product", cost=3).get("data") or {}
        return sum(int(w.get("available") or 0) for w in product.get("warehouse_products") or [])

    def apply(self, action: Action) -> Outcome:
        if action.action == "fulfillment_create":
            return self._fulfillment(action)
        if action.action == "inventory_set_available":
            return self._inventory(action)
        raise WriteError(f"the Shopify writer has no action {action.action!r}")

    def _mutate(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        with single_attempt(self.client):
            return self.client.graphql(query, variables)

    # ------------------------------------------------------------------------------------ fulfillment
    def _fulfillment(self, action: Action) -> Outcome:
        p = action.payload
        order_gid = p.get("order_gid") or _gid("Order", p.get("order_id") or action.target_object_id)
        info = [t for t in p.get("tracking_info") or [] if t and t.get("number")]
        wanted = [str(t["number"]) for t in info]
        company = next((t.get("company") for t in info if t.get("company")), None)

        def read() -> dict[str, Any]:
            order = self.client.graphql(ORDER_QUERY, {"id": order_gid}).get("order")
            if not order:
                raise WriteError(f"Shopify has no order {order_gid}")
            return order

        def on_shopify(order: dict[str, Any]) -> set[str]:
            return {_norm(t.get("number")) for f in order.get("fulfillments") or [] if f.get("status") == "SUCCESS"
                    for t in f.get("trackingInfo") or []}

        def open_orders(order: dict[str, Any]) -> list[str]:
            nodes = (order.get("fulfillmentOrders") or {}).get("nodes") or []
            return [fo["id"] for fo in nodes if fo.get("status") in FULFILLABLE
                    and any(int(li.get("remainingQuantity") or 0) > 0 for li in (fo.get("lineItems") or {}).get("nodes") or [])]

        def done(order: dict[str, Any]) -> str | None:
            missing = [n for n in wanted if _norm(n) not in on_shopify(order)]
            if not missing and not open_orders(order):
                return f"Shopify already carries {', '.join(wanted) or 'the tracking'} and has nothing left to fulfil"
            return None

        def write(order: dict[str, Any]) -> Any:
            have = on_shopify(order)
            missing = [n for n in wanted if _norm(n) not in have]
            fulfillment_orders = open_orders(order)
            if fulfillment_orders:
                tracking = {"numbers": missing or wanted}
                if company:
                    tracking["company"] = company
                data = self._mutate(FULFILLMENT_CREATE, {"fulfillment": {
                    "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo} for fo in fulfillment_orders],
                    "trackingInfo": tracking,
                    "notifyCustomer": bool(p.get("notify_customer", False)),
                }})
                _user_errors(data.get("fulfillmentCreate"), "fulfillmentCreate")
                return data
            # Everything is fulfilled but numbers are missing: add them to the latest fulfillment.
            done_ones = [f for f in order.get("fulfillments") or [] if f.get("status") == "SUCCESS"]
            if not done_ones:
                raise WriteError(f"order {order_gid} has nothing to fulfil and no fulfillment to add tracking to")
            latest = done_ones[-1]
            numbers = [t["number"] for t in latest.get("trackingInfo") or [] if t.get("number")] + missing
            tracking = {"numbers": numbers}
            known = next((t.get("company") for t in latest.get("trackingInfo") or [] if t.get("company")), None)
            if known or company:
                tracking["company"] = known or company
            data = self._mutate(TRACKING_UPDATE, {"fulfillmentId": latest["id"], "trackingInfoInput": tracking})
            _user_errors(data.get("fulfillmentTrackingInfoUpdate"), "fulfillmentTrackingInfoUpdate")
            return data

        return checked_write(read, done, write, attempts=self.options.checked_attempts, sleep=self.options.sleep,
                             what=f"shopify fulfillment for {order_gid}")

    # -------------------------------------------------------------------------------------- inventory
    def _inventory(self, action: Action) -> Outcome:
        p = action.payload
        item, location = _gid("InventoryItem", p["inventory_item_id"]), _gid("Location", p["location_id"])
        where = f"SKU {p.get('sku') or item} at location {p['location_id']}"
        seen = _plan_saw(action)
        target = int(p["quantity"])
        live = self._shiphero_available(p["sku"]) if p.get("sku") and "shiphero_available" in p else None
        if live is not None:
            # the other ShipHero-fulfilled locations keep what they hold; this one takes the difference
            target = live - (int(p["shiphero_available"]) - int(p["quantity"]))
        # how far ShipHero's available moved since the plan; ShipHero's inventory sync copies that move to
        # this location, so a Shopify move of exactly as much is the sync, not a sale or an edit in Shopify
        followed = live - int(p["shiphero_available"]) if live is not None else 0

        def read() -> int:
            location_node = self.client.graphql(LEVEL_QUERY, {"location": location, "item": item}).get("location")
            level = (location_node or {}).get("inventoryLevel")
            if not level:
                raise WriteError(f"item {item} is not stocked at {location}")
            return next(int(q["quantity"]) for q in level["quantities"] if q["name"] == "available")

        def done(current: int) -> str | None:
            return f"{where}: available is already {target}" if current == target else None

        def moved_on(current: int) -> str | None:
            if seen is None or current == seen or (followed and current - seen == followed):
                return None
            return (f"{where}: Shopify moved on since the plan (available {current} now, the plan saw {seen});"
                    f" not overwritten with {target}")

        def write(current: int) -> Any:
            # compare-and-set against what the plan saw (or, when ShipHero's sync moved it, what was just read):
            # a change in between makes Shopify refuse the write
            data = self._mutate(SET_QUANTITIES, {"input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": f"shipshape://corrections/{action.idempotency_key}",
                "quantities": [{"inventoryItemId": item, "locationId": location, "quantity": target,
                                "compareQuantity": current}],
            }})
            result = data.get("inventorySetQuantities") or {}
            errors = result.get("userErrors") or []
            if errors and all(e.get("code") == COMPARE_STALE for e in errors):
                return Outcome("skipped", f"{where}: Shopify refused the compare-and-set (available is no longer"
                                          f" {current}, it changed just before the write); not overwritten"
                                          f" with {target}", errors)
            _user_errors(result, "inventorySetQuantities")
            return data

        return checked_write(read, done, write, attempts=self.options.checked_attempts, sleep=self.options.sleep,
                             what=f"shopify inventory {p.get('sku')} at {location}", moved_on=moved_on)


def _plan_saw(action: Action) -> int | None:
    """Shopify's available at the location when the plan was made: the plan's before_state, else the
    payload's `shopify_available`; None for a plan that recorded neither."""
    for source, key in ((action.before_state or {}, "available"), (action.payload, "shopify_available")):
        value = source.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def open_writer(conn: Connection, options: WriterOptions) -> ShopifyWriter:
    return ShopifyWriter(ShopifyClient.from_connection(conn, options.transport, retry=options.retry), options)
