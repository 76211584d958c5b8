"""The ShipHero writer of the corrections push: order mutations through ShipHero's public GraphQL API.

ShipHero has no idempotency keys, so every action reads the order first and writes only what differs
(`writers.checked_write`): order_create is skipped when ShipHero already has an order for the Shopify
order (by partner_order_id or order number); an address, shipping method, hold or cancellation already in
place is skipped; line items are brought to Shopify's quantities by adding, updating and removing only
the lines that differ. A mutation is sent without the client's blind retries: after an uncertain answer
the order is read again before anything is repeated. Credits, auth and throttling are the source
client's (`ShipHeroClient`).
"""

from __future__ import annotations

import string
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

    def _checked(self, action: Action, done, write) -> Outcome:
        order_id = action.payload.get("order_id") or action.target_object_id
        return checked_write(lambda: self._order(order_id), done, write, attempts=self.options.checked_attempts,
                             sleep=self.options.sleep, what=f"shiphero {action.action} on {order_id}")

    # -------------------------------------------------------------------------------------- actions
    def apply(self, action: Action) -> Outcome:
        handler = getattr(self, f"_{action.action}", None)
        if handler is None:
            raise WriteError(f"the ShipHero writer has no action {action.action!r}")
        return handler(action)

    def _order_create(self, action: Action) -> Outcome:
        p = action.payload

        def existing(_: Any = None) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for variables in ({"partner": p.get("partner_order_id")}, {"number": p.get("order_number")}):
                if not any(variables.values()):
                    continue
                wrapper = self.client.graphql(FIND_QUERY, variables, field="orders", cost=READ_COST)
                edges = ((wrapper.get("data") or {}).get("edges")) or []
                found += [e["node"] for e in edges if e and e.get("node")]
            return found

        def done(found: list[dict[str, Any]]) -> str | None:
            if not found:
                return None
            ids = ", ".join(sorted({o["id"] for o in found}))
            return f"ShipHero already has order {ids} for partner_order_id {p.get('partner_order_id')}"

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
            return "the address already matches Shopify's" if _address_key(current) == _address_key(wanted) else None

        def write(order: dict[str, Any]) -> Any:
            return self._mutate("order_update", {"order_id": order["id"], "shipping_address": _address_input(wanted)})

        return self._checked(action, done, write)

    def _order_update_shipping_lines(self, action: Action) -> Outcome:
        wanted = action.payload.get("shipping_lines") or {}

        def done(order: dict[str, Any]) -> str | None:
            method = ((order.get("shipping_lines") or {}).get("method")) or ""
            return "the shipping method already matches" if method.lower() == (wanted.get("method") or "").lower() \
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

        return self._checked(action, done, write)

    def _order_cancel(self, action: Action) -> Outcome:
        def done(order: dict[str, Any]) -> str | None:
            status = (order.get("fulfillment_status") or "").lower()
            return "ShipHero already has the order cancelled" if status in ("canceled", "cancelled") else None

        def write(order: dict[str, Any]) -> Any:
            reason = str(action.payload.get("reason") or "cancelled in Shopify")
            return self._mutate("order_cancel", {"order_id": order["id"], "reason": reason})

        return self._checked(action, done, write)

    def _order_update_holds(self, action: Action) -> Outcome:
        wanted = bool(action.payload.get("payment_hold", True))

        def done(order: dict[str, Any]) -> str | None:
            held = bool((order.get("holds") or {}).get("payment_hold"))
            return f"payment_hold is already {str(wanted).lower()}" if held == wanted else None

        def write(order: dict[str, Any]) -> Any:
            return self._mutate("order_update_holds", {"order_id": order["id"], "payment_hold": wanted})

        return self._checked(action, done, write)

    def _order_update_line_items(self, action: Action) -> Outcome:
        wanted = {k: int(v) for k, v in (action.payload.get("shopify_items") or {}).items() if v}
        shopify_lines = {li["sku"]: li for li in action.payload.get("line_items") or []}

        def done(order: dict[str, Any]) -> str | None:
            return "the line items already match Shopify's" if _items(order) == wanted else None

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

        return self._checked(action, done, write)


def open_writer(conn: Connection, options: WriterOptions) -> ShipHeroWriter:
    client = ShipHeroClient(conn, transport=options.transport, retry=options.retry)
    client.configure(options.settings)
    return ShipHeroWriter(client, options)
