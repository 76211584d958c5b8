"""The ShipHero writer of the corrections push: order mutations through ShipHero's public GraphQL API.

ShipHero has no idempotency keys, so every action reads the order right before writing and writes only
what differs (`writers.checked_write`), and skips with the reason when ShipHero already agrees or has
moved on:

* **order_create** is skipped when ShipHero already has an order for the Shopify order, whatever form of
  the ids it was stored under (the ID drift between systems: `#1001` / `1001`, `gid://shopify/Order/…` /
  the bare number, case, leading zeros, white space). ShipHero's `orders` query filters `partner_order_id`
  and `order_number` by exact value only, so the check (1) searches each canonical variant exactly (the
  bare Shopify id and its `gid://shopify/Order/` form; `#1001` and `1001`), stopping at the first hit, and
  (2) sweeps the customer's orders (`email`, from two days before the Shopify order's date, oldest first,
  one page of 25) comparing the normalised ids (`normalize_order_ref`, as dbt and the ground truth do).
  Forms that only differ by case or padding are found by the sweep alone: an order stored with such an id
  under another email, or outside the customer's first 25 orders of the window, is not found (ShipHero
  has no case-insensitive or prefix search, and listing every order to compare would cost far more
  credits than the rare duplicate it could prevent). The check costs at most 4 x 6 + 26 credits.
* an address, shipping method, hold or cancellation already in place is skipped; so is any update of an
  order ShipHero has cancelled or started shipping (fulfillment_status, or a line with quantity_shipped):
  the plan was made for an open order, and ShipHero has moved on;
* a cancellation of an order ShipHero has started shipping is skipped: cancelling in ShipHero cannot
  recall the parcel (that is CANCELLED_BUT_SHIPPED, an alert for a person);
* line items are brought to Shopify's quantities by adding, updating and removing only the lines that
  differ.

A mutation is sent without the client's blind retries: after an uncertain answer the order is read again
before anything is repeated. Credits, auth and throttling are the source client's (`ShipHeroClient`).
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.corrections.writers import Outcome, WriteError, WriterOptions, checked_write, single_attempt
from shipshape.sources.shiphero.client import ShipHeroClient

READ_COST = 5
WRITE_COST = 10

ORDER_FIELDS = """
id legacy_id order_number partner_order_id fulfillment_status
shipping_address { first_name last_name company address1 address2 city state state_code zip country
  country_code phone }
shipping_lines { title carrier method price }
holds { payment_hold }
line_items(first: 100) { edges { node { id sku quantity quantity_shipped partner_line_item_id } } }
"""
ORDER_QUERY = f"query Order($id: String!) {{ order(id: $id) {{ request_id complexity data {{ {ORDER_FIELDS} }} }} }}"
FIND_QUERY = ("query Find($partner: String, $number: String) { orders(partner_order_id: $partner, order_number:"
              " $number) { request_id complexity data(first: 5) { edges { node { id legacy_id partner_order_id"
              " order_number fulfillment_status } } } } }")
FIND_COST = 6  # 1 + a page of 5 nodes
# the customer's orders from shortly before the Shopify order's date, oldest first: their ids are compared
# normalised, which catches the forms an exact search cannot (case, padding)
SWEEP_QUERY = ("query Sweep($email: String, $from: ISODateTime) { orders(email: $email, order_date_from: $from)"
               " { request_id complexity data(first: 25, sort: \"order_date\") { edges { node { id legacy_id"
               " partner_order_id order_number fulfillment_status } } } } }")
SWEEP_COST = 26
SWEEP_LEAD = timedelta(days=2)  # ShipHero's order_date may be a time zone off Shopify's created_at
SHOPIFY_ORDER_GID = "gid://shopify/Order/"
CANCELLED = ("canceled", "cancelled")
SHIPPED = ("fulfilled", "partially_fulfilled", "shipped")
MUTATION = ("mutation {name}($data: {input}!) {{ {name}(data: $data) {{ request_id complexity"
            " order {{ id legacy_id fulfillment_status }} }} }}")
INPUTS = {
    "order_create": "CreateOrderInput",
    "order_update": "UpdateOrderInput",
    "order_add_line_items": "AddLineItemsInput",
    "order_update_line_items": "UpdateLineItemsInput",
    "order_remove_line_items": "RemoveLineItemsInput",
    "order_update_holds": "UpdateOrderHoldsInput",
    "order_cancel": "CancelOrderInput",
}
ADDRESS_KEYS = ("first_name", "last_name", "company", "address1", "address2", "city", "state", "state_code", "zip",
                "country", "country_code", "phone")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_order_ref(value: Any) -> str | None:
    """dbt's `normalize_order_ref` (and the ground truth's `norm_order_ref`): trim; drop a leading
    `gid://shopify/Order/` (any case) and leading `#`s; lower case; drop leading zeros, keeping one."""
    if value is None:
        return None
    text = str(value).strip()
    if text[:len(SHOPIFY_ORDER_GID)].lower() == SHOPIFY_ORDER_GID.lower():
        text = text[len(SHOPIFY_ORDER_GID):]
    text = text.lstrip("#").strip().lower()
    stripped = text.lstrip("0")
    return stripped or (text and "0") or None


def _variants(*forms: Any) -> list[str]:
    """The distinct non-empty forms, in order."""
    out: list[str] = []
    for form in forms:
        if form and str(form) not in out:
            out.append(str(form))
    return out


def partner_variants(partner_order_id: Any) -> list[str]:
    """The forms a Shopify order id is stored under in ShipHero: as given, bare, and as a gid."""
    ref = normalize_order_ref(partner_order_id)
    return _variants(partner_order_id, ref, ref and f"{SHOPIFY_ORDER_GID}{ref}")


def number_variants(order_number: Any) -> list[str]:
    """The forms an order name is stored under in ShipHero: as given, `#1001` and `1001`."""
    ref = normalize_order_ref(order_number)
    return _variants(order_number, ref and f"#{ref}", ref)


def _sweep_from(order_date: Any) -> str | None:
    try:
        placed = datetime.fromisoformat(str(order_date).replace("Z", "+00:00"))
    except ValueError:
        return None
    if placed.tzinfo is not None:
        placed = placed.astimezone(UTC).replace(tzinfo=None)
    return (placed - SWEEP_LEAD).strftime("%Y-%m-%dT%H:%M:%S")


def _status(order: dict[str, Any]) -> str:
    return (order.get("fulfillment_status") or "").strip().lower()


def _shipped(order: dict[str, Any]) -> bool:
    return _status(order) in SHIPPED or any(int(li.get("quantity_shipped") or 0) > 0 for li in _lines(order))


def _moved_on(order: dict[str, Any], what: str) -> str | None:
    """Why ShipHero's order has moved on from the open order the plan was made for, or None."""
    name = f"ShipHero order {order.get('id')} ({order.get('order_number')})"
    if _status(order) in CANCELLED:
        return f"{name} is cancelled (fulfillment_status {order.get('fulfillment_status')}): {what} not sent"
    if _shipped(order):
        return f"{name} has shipped (fulfillment_status {order.get('fulfillment_status')}): {what} not sent"
    return None


def _norm(value: Any) -> str:
    return " ".join(str(value or "").lower().translate(_PUNCT).split())


def _address_key(a: dict[str, Any]) -> tuple[str, ...]:
    name = a.get("name") or f"{a.get('first_name') or ''} {a.get('last_name') or ''}"
    zip_code = "".join(str(a.get("zip") or "").translate(_PUNCT).split()).upper()
    return (_norm(name), _norm(a.get("address1")), _norm(a.get("address2")), _norm(a.get("city")),
            _norm(a.get("state_code")), zip_code, _norm(a.get("country_code")))


def _address_input(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k) for k in ADDRESS_KEYS if k in a}


def _lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    edges = ((order.get("line_items") or {}).get("edges")) or []
    return [e["node"] for e in edges if e and e.get("node")]


def _items(order: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for li in _lines(order):
        out[li["sku"]] = out.get(li["sku"], 0) + int(li.get("quantity") or 0)
    return {k: v for k, v in out.items() if v}


class ShipHeroWriter:
    target = "shiphero"

    def __init__(self, client: ShipHeroClient, options: WriterOptions) -> None:
        self.client = client
        self.options = options

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------------------------------ api
    def _order(self, order_id: str) -> dict[str, Any]:
        data = self.client.graphql(ORDER_QUERY, {"id": order_id}, field="order", cost=READ_COST).get("data")
        if not isinstance(data, dict):
            raise WriteError(f"ShipHero has no order {order_id}")
        return data

    def _mutate(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        query = MUTATION.format(name=name, input=INPUTS[name])
        with single_attempt(self.client):
            return self.client.graphql(query, {"data": data}, field=name, cost=WRITE_COST)

    def _checked(self, action: Action, done, write, moved_on=None) -> Outcome:
        order_id = action.payload.get("order_id") or action.target_object_id
        return checked_write(lambda: self._order(order_id), done, write, attempts=self.options.checked_attempts,
                             sleep=self.options.sleep, what=f"shiphero {action.action} on {order_id}",
                             moved_on=moved_on)

    def _find(self, query: str, variables: dict[str, Any], cost: int) -> list[dict[str, Any]]:
        wrapper = self.client.graphql(query, variables, field="orders", cost=cost)
        edges = ((wrapper.get("data") or {}).get("edges")) or []
        return [e["node"] for e in edges if e and e.get("node")]

    def existing_orders(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """ShipHero's orders for the Shopify order of an order_create payload, under any drifted form of
        its ids (see the module docstring): exact searches of each variant, then the customer sweep."""
        partner, number = payload.get("partner_order_id"), payload.get("order_number")
        for variables in ([{"partner": v} for v in partner_variants(partner)]
                          + [{"number": v} for v in number_variants(number)]):
            found = self._find(FIND_QUERY, variables, FIND_COST)
            if found:
                return found
        email = str(payload.get("email") or "").strip()
        if not email:
            return []
        refs = {("partner", normalize_order_ref(partner)), ("number", normalize_order_ref(number))}
        refs = {r for r in refs if r[1]}
        found = self._find(SWEEP_QUERY, {"email": email, "from": _sweep_from(payload.get("order_date"))},
                           SWEEP_COST)
        return [o for o in found
                if {("partner", normalize_order_ref(o.get("partner_order_id"))),
                    ("number", normalize_order_ref(o.get("order_number")))} & refs]

    # -------------------------------------------------------------------------------------- actions
    def apply(self, action: Action) -> Outcome:
        handler = getattr(self, f"_{action.action}", None)
        if handler is None:
            raise WriteError(f"the ShipHero writer has no action {action.action!r}")
        return handler(action)

    def _order_create(self, action: Action) -> Outcome:
        p = action.payload

        def existing() -> list[dict[str, Any]]:
            return self.existing_orders(p)

        def done(found: list[dict[str, Any]]) -> str | None:
            if not found:
                return None
            held = "; ".join(f"{o.get('id')} (partner_order_id {o.get('partner_order_id')!r}, order_number"
                             f" {o.get('order_number')!r})" for o in found[:3])
            return (f"ShipHero already has order {held} for Shopify order {p.get('partner_order_id')}"
                    f" ({p.get('order_number')})")

        def write(_: Any) -> Any:
            lines = p.get("shipping_lines") or {}
            data: dict[str, Any] = {
                "partner_order_id": p.get("partner_order_id"),
                "order_number": p.get("order_number"),
                "order_date": p.get("order_date"),
                "email": p.get("email"),
                "currency": p.get("currency"),
                "shipping_address": _address_input(p.get("shipping_address") or {}),
                "shipping_lines": {
                    "title": lines.get("title") or lines.get("method") or "Shipping",
                    "price": lines.get("price") or "0.00",
                    "method": lines.get("method"),
                },
                "line_items": [
                    {"sku": li["sku"], "partner_line_item_id": li["partner_line_item_id"], "quantity": li["quantity"],
                     "price": li.get("price") or "0.00", "product_name": li.get("product_name")}
                    for li in p.get("line_items") or []
                ],
            }
            return self._mutate("order_create", {k: v for k, v in data.items() if v is not None})

        return checked_write(existing, done, write, attempts=self.options.checked_attempts, sleep=self.options.sleep,
                             what=f"shiphero order_create for {p.get('partner_order_id')}")

    def _order_update_shipping_address(self, action: Action) -> Outcome:
        wanted = action.payload.get("shipping_address") or {}

        def done(order: dict[str, Any]) -> str | None:
            current = order.get("shipping_address") or {}
            return f"ShipHero order {order.get('id')} shipping_address already matches Shopify's" if _address_key(current) == _address_key(wanted) else None

        def write(order: dict[str, Any]) -> Any:
            return self._mutate("order_update", {"order_id": order["id"], "shipping_address": _address_input(wanted)})

        return self._checked(action, done, write, lambda order: _moved_on(order, "shipping_address update"))

    def _order_update_shipping_lines(self, action: Action) -> Outcome:
        wanted = action.payload.get("shipping_lines") or {}

        def done(order: dict[str, Any]) -> str | None:
            method = ((order.get("shipping_lines") or {}).get("method")) or ""
            return f"ShipHero order {order.get('id')} shipping_lines.method is already {method!r}" if method.lower() == (wanted.get("method") or "").lower() \
                else None

        def write(order: dict[str, Any]) -> Any:
            current = order.get("shipping_lines") or {}
            lines = {
                "title": wanted.get("title") or current.get("title") or wanted.get("method") or "Shipping",
                "price": wanted.get("price") or current.get("price") or "0.00",
                "carrier": wanted.get("carrier") or current.get("carrier"),
                "method": wanted.get("method"),
            }
            return self._mutate("order_update", {"order_id": order["id"],
                                                 "shipping_lines": {k: v for k, v in lines.items() if v is not None}})

        return self._checked(action, done, write, lambda order: _moved_on(order, "shipping_lines update"))

    def _order_cancel(self, action: Action) -> Outcome:
        def done(order: dict[str, Any]) -> str | None:
            status = (order.get("fulfillment_status") or "").lower()
            return f"ShipHero already has order {order.get('id')} cancelled" if status in ("canceled", "cancelled") else None

        def write(order: dict[str, Any]) -> Any:
            reason = str(action.payload.get("reason") or "cancelled in Shopify")
            return self._mutate("order_cancel", {"order_id": order["id"], "reason": reason})

        def moved_on(order: dict[str, Any]) -> str | None:
            if not _shipped(order):
                return None
            return (f"ShipHero order {order.get('id')} ({order.get('order_number')}) has shipped (fulfillment_status"
                    f" {order.get('fulfillment_status')}): order_cancel not sent, the parcel cannot be recalled")

        return self._checked(action, done, write, moved_on)

    def _order_update_holds(self, action: Action) -> Outcome:
        wanted = bool(action.payload.get("payment_hold", True))

        def done(order: dict[str, Any]) -> str | None:
            held = bool((order.get("holds") or {}).get("payment_hold"))
            return f"ShipHero order {order.get('id')} payment_hold is already {str(wanted).lower()}" if held == wanted else None

        def write(order: dict[str, Any]) -> Any:
            return self._mutate("order_update_holds", {"order_id": order["id"], "payment_hold": wanted})

        return self._checked(action, done, write, lambda order: _moved_on(order, "payment_hold update"))

    def _order_update_line_items(self, action: Action) -> Outcome:
        wanted = {k: int(v) for k, v in (action.payload.get("shopify_items") or {}).items() if v}
        shopify_lines = {li["sku"]: li for li in action.payload.get("line_items") or []}

        def done(order: dict[str, Any]) -> str | None:
            return f"ShipHero order {order.get('id')} line_items already match Shopify's" if _items(order) == wanted else None

        def write(order: dict[str, Any]) -> Any:
            lines = _lines(order)
            by_sku: dict[str, list[dict[str, Any]]] = {}
            for li in lines:
                by_sku.setdefault(li["sku"], []).append(li)
            add, update, remove = [], [], []
            for sku, quantity in sorted(wanted.items()):
                current = by_sku.get(sku, [])
                if not current:
                    source = shopify_lines.get(sku) or {}
                    add.append({"sku": sku, "quantity": quantity,
                                "partner_line_item_id": source.get("partner_line_item_id") or sku,
                                "price": source.get("price") or "0.00", "product_name": source.get("product_name")})
                    continue
                others = sum(int(li.get("quantity") or 0) for li in current[1:])
                if others + int(current[0].get("quantity") or 0) != quantity:
                    update.append({"id": current[0]["id"], "quantity": max(0, quantity - others)})
            for sku, current in sorted(by_sku.items()):
                if sku not in wanted:
                    remove += [li["id"] for li in current if int(li.get("quantity") or 0) > 0]
            response: dict[str, Any] = {}
            if add:
                response["order_add_line_items"] = self._mutate("order_add_line_items",
                                                                {"order_id": order["id"], "line_items": add})
            if update:
                response["order_update_line_items"] = self._mutate("order_update_line_items",
                                                                   {"order_id": order["id"], "line_items": update})
            if remove:
                response["order_remove_line_items"] = self._mutate("order_remove_line_items",
                                                                   {"order_id": order["id"], "line_item_ids": remove})
            return response

        return self._checked(action, done, write, lambda order: _moved_on(order, "line_items update"))


def open_writer(conn: Connection, options: WriterOptions) -> ShipHeroWriter:
    client = ShipHeroClient(conn, transport=options.transport, retry=options.retry)
    client.configure(options.settings)
    return ShipHeroWriter(client, options)
