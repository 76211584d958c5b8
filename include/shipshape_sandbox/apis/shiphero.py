"""ShipHero's public API, emulated over the world's ShipHero records.

- ``POST /auth/token`` (username, password) and ``POST /auth/refresh`` (refresh_token) issue 28-day JWT
  access tokens, as ShipHero's Auth0-backed endpoints do; errors use Auth0's ``error`` /
  ``error_description`` shape.
- ``POST /graphql`` runs a real GraphQL engine over a faithful subset of ShipHero's schema
  (``shiphero_schema.graphql``): every query answers a ``{request_id, complexity, data}`` wrapper, every
  order mutation an ``{request_id, complexity, order}`` one; connections page with graphene's offset
  cursors (``arrayconnection:<n>``, 100 items when ``first`` is not given).
- Credits are throttled as ShipHero does when ``sandbox.rate_limited``: 4004 credits per account, 60
  restored per second, each operation charged its complexity (connection size x nested cost, +1); short
  of credits the answer is ShipHero's error code 30, and past 7000 requests in 5 minutes an HTTP 429.

Facts checked: developer.shiphero.com (getting started, GraphQL primer, schema pages), a graphql-codegen
dump of ShipHero's schema in a public repository, and public clients handling error code 30.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from operator import attrgetter
from typing import Any

import jwt
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    build_schema,
    execute,
    get_named_type,
    parse,
    validate,
)
from graphql.language import BooleanValueNode, IntValueNode, StringValueNode, VariableNode
from graphql.utilities import get_operation_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.state import PerSandbox, cached_for_revision
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import (
    Address,
    ShipHeroHolds,
    ShipHeroLineItem,
    ShipHeroOrder,
    ShipHeroShipment,
    ShipHeroShippingLabel,
    ShipHeroWarehouseProduct,
    World,
    cents_to_str,
)

API = "shiphero"
TOKEN_TTL = 2_419_200  # seconds: ShipHero access tokens live 28 days
TOKEN_SCOPE = "openid profile offline_access"
TOKEN_ISSUER = "https://shiphero.auth0.com/"
TOKEN_AUDIENCE = "shiphero-public-api"
MAX_CREDITS = 4004
CREDITS_PER_SECOND = 60
REQUESTS_PER_WINDOW = 7000  # ShipHero's hard cap: 7000 requests in any 5 minutes
REQUEST_WINDOW_SECONDS = 300
DEFAULT_PAGE = 100  # a connection without first/last answers (and is charged for) 100 items
MUTATION_COST = 10
THROTTLE_CODE = 30
SHOP_NAME = "api"  # shop_name ShipHero gives orders created through the API without one
WAREHOUSE_IDENTIFIER = "Primary"
CANCELED = "canceled"


# ------------------------------------------------------------------------------------------ state
@dataclass
class ShipHeroState:
    """What the emulated ShipHero remembers besides the world: tokens, credits, and order fields the
    world's compact records do not hold. ``clock`` drives token expiry and credit refills (tests swap it)."""

    sandbox: Sandbox
    clock: Callable[[], float] = time.time
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> extra rendered fields
    _seq: int = 0
    _cache: dict[tuple, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seed = self.sandbox.world.seed
        self.secret = hashlib.sha256(f"shipshape-sandbox:{seed}:shiphero-jwt".encode()).hexdigest()
        self.credits = Buckets(MAX_CREDITS, CREDITS_PER_SECOND, clock=self._now)
        self.requests = Buckets(
            REQUESTS_PER_WINDOW, REQUESTS_PER_WINDOW / REQUEST_WINDOW_SECONDS, clock=self._now
        )
        username = self.sandbox.credentials.shiphero_username
        self.subject = "auth0|" + hashlib.sha256(f"{seed}:{username}".encode()).hexdigest()[:24]
        self.account_id = lifecycle.relay_id("Account", 40_000 + seed % 10_000)
        # ShipHero's refresh token "remains active and static as long as the account is active": one per
        # account, derived from the seed so it survives a sandbox restart like a stored credential would.
        raw = hashlib.blake2b(f"{self.secret}:refresh".encode(), digest_size=36).digest()
        self.refresh_token = base64.urlsafe_b64encode(raw).decode()[:45]

    def _now(self) -> float:
        return self.clock()

    def request_id(self) -> str:
        """24 hex digits, like the Mongo ObjectIds ShipHero answers with."""
        self._seq += 1
        tail = hashlib.blake2b(f"{self.secret}:rid:{self._seq}".encode(), digest_size=8).hexdigest()
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}{tail}"

    def cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """Memoise a listing for the world's current revision (a sync pages the same filter many times)."""
        return cached_for_revision(self._cache, self.sandbox.world.revision, key, compute)


# The ShipHero emulation's state for a sandbox (tests use it to drive the credit clock).
state_for: PerSandbox[ShipHeroState] = PerSandbox(ShipHeroState)


# -------------------------------------------------------------------------------------- rendering
def _dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _parse_dt(value: Any) -> datetime:
    """ISODateTime input: YYYY-mm-dd, YYYY-mm-dd HH:MM:SS or YYYY-mm-ddTHH:MM:SS (UTC unless an offset)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"ISODateTime cannot represent a non-string value: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"Invalid ISO 8601 datetime: {value!r}") from None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_dt_literal(node: Any, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise ValueError("ISODateTime must be a string")
    return _parse_dt(node.value)


def _money(value: Any, name: str) -> int:
    """A decimal string ("12.30") in cents; ShipHero money inputs are strings."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise GraphQLError(f"Invalid value for {name}: {value!r}") from None
    if not amount.is_finite():
        raise GraphQLError(f"Invalid value for {name}: {value!r}")
    return int((amount * 100).to_integral_value())


def _legacy_from_relay(relay: str) -> int:
    try:
        tail = base64.b64decode(relay, validate=True).decode().rsplit(":", 1)[1]
        return int(tail)
    except (binascii.Error, UnicodeDecodeError, IndexError, ValueError):
        return int.from_bytes(hashlib.blake2b(relay.encode(), digest_size=4).digest(), "big")


def _order_address(address: Address, email: str | None) -> dict[str, Any]:
    return {
        "first_name": address.first_name,
        "last_name": address.last_name,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.province,
        "state_code": address.province_code,
        "zip": address.zip,
        "country": address.country,
        "country_code": address.country_code,
        "email": email,
        "phone": address.phone,
    }


def _plain_address(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.province_code or address.province,
        "country": address.country_code,
        "zip": address.zip,
        "phone": address.phone,
    }


# Order fields the world's record does not hold: kept per order so a mutation's values read back.
ORDER_DEFAULTS: dict[str, Any] = {
    "total_tax": "0.00",
    "total_discounts": "0.00",
    "box_name": None,
    "ready_to_ship": None,
    "auto_print_return_label": False,
    "custom_invoice_url": None,
    "profile": "default",
    "gift_note": None,
    "packing_note": None,
    "required_ship_date": None,
    "billing_address": None,
    "tags": [],
    "flagged": False,
    "saturday_delivery": False,
    "ignore_address_validation_errors": False,
    "skip_address_validation": False,
    "priority_flag": False,
    "allocation_priority": 0,
    "gift_invoice": False,
    "allow_partial": False,
    "require_signature": False,
    "adult_signature_required": False,
    "alcohol": False,
    "expected_weight_in_oz": None,
    "insurance": False,
    "insurance_amount": "0.00",
    "has_dry_ice": False,
    "allow_split": False,
    "hold_until_date": None,
    "incoterms": None,
    "tax_id": None,
    "tax_type": None,
    "address_is_business": False,
}


def _store_extras(state: ShipHeroState, order_id: str, data: dict[str, Any]) -> None:
    extras = state.extras.setdefault(order_id, {})
    for name in ORDER_DEFAULTS:
        if name not in data:
            continue
        value = data[name]
        if value is None and name != "billing_address":
            continue  # a null leaves the field as it was; only the billing address can be cleared
        if name == "billing_address":
            value = None if value is None else {k: value.get(k) for k in _ADDRESS_KEYS}
        elif isinstance(value, datetime):
            value = _dt(value)
        elif isinstance(value, Decimal) or name in ("total_tax", "total_discounts", "insurance_amount"):
            value = cents_to_str(_money(value, name))
        extras[name] = value


_ADDRESS_KEYS = (
    "first_name", "last_name", "company", "address1", "address2", "city", "state", "state_code",
    "zip", "country", "country_code", "email", "phone",
)  # fmt: skip


def _line_item_node(order: ShipHeroOrder, li: ShipHeroLineItem, warehouse_id: str) -> dict[str, Any]:
    open_qty = 0 if order.fulfillment_status == CANCELED else max(0, li.quantity - li.quantity_shipped)
    return {
        "id": li.id,
        "legacy_id": li.legacy_id,
        "sku": li.sku,
        "partner_line_item_id": li.partner_line_item_id,
        "product_id": None,
        "quantity": li.quantity,
        "price": cents_to_str(li.price),
        "product_name": li.product_name,
        "option_title": None,
        "fulfillment_status": li.fulfillment_status,
        "quantity_pending_fulfillment": open_qty,
        "quantity_shipped": li.quantity_shipped,
        "warehouse": WAREHOUSE_IDENTIFIER,
        "quantity_allocated": open_qty,
        "backorder_quantity": 0,
        "custom_options": None,
        "custom_barcode": None,
        "eligible_for_return": False,
        "customs_value": None,
        "warehouse_id": warehouse_id,
        "locked_to_warehouse_id": None,
        "subtotal": cents_to_str(li.price * li.quantity),
        "barcode": None,
        "created_at": _dt(order.order_date),
        "updated_at": _dt(order.updated_at),
        "order_id": order.id,
        "promotion_discount": "0.00",
    }


def _order_node(state: ShipHeroState, order: ShipHeroOrder) -> dict[str, Any]:
    world = state.sandbox.world
    warehouse_id = world.shiphero_warehouse_id
    node: dict[str, Any] = dict(ORDER_DEFAULTS)
    node["tags"] = []
    node.update(state.extras.get(order.id, {}))
    node.update(
        {
            "id": order.id,
            "legacy_id": order.legacy_id,
            "order_number": order.order_number,
            "partner_order_id": order.partner_order_id,
            "shop_name": order.shop_name,
            "fulfillment_status": order.fulfillment_status,
            "order_date": _dt(order.order_date),
            "subtotal": cents_to_str(sum(li.price * li.quantity for li in order.line_items)),
            "total_price": cents_to_str(order.total_price),
            "account_id": state.account_id,
            "updated_at": _dt(order.updated_at),
            "email": order.email,
            "currency": order.currency,
            "source": "api",
            "shipping_lines": {
                "title": order.shipping_title,
                "carrier": order.shipping_carrier,
                "method": order.shipping_method,
                "price": cents_to_str(order.shipping_price),
            },
            "shipping_address": _order_address(order.shipping_address, order.email),
            "holds": {
                "fraud_hold": order.holds.fraud_hold,
                "address_hold": order.holds.address_hold,
                "shipping_method_hold": False,
                "operator_hold": order.holds.operator_hold,
                "payment_hold": order.holds.payment_hold,
                "client_hold": order.holds.client_hold,
            },
            "line_items": lambda _info, **args: _connection(
                state, order.line_items, args, lambda li: _line_item_node(order, li, warehouse_id), total=True
            ),
            "shipments": lambda _info: [_shipment_node(state, s) for s in _shipments_of(world, order.id)],
        }
    )
    return node


def _shipments_of(world: World, order_id: str) -> list[ShipHeroShipment]:
    index = getattr(world, "shipments_by_order", None)
    if index is not None:
        return list(index.get(order_id, ()))
    return [s for s in world.shiphero_shipments if s.order_id == order_id]


def _label_node(
    world: World, shipment: ShipHeroShipment, label: ShipHeroShippingLabel, account_id: str
) -> dict:
    order = world.shiphero_orders.get(shipment.order_id)
    return {
        "id": label.id,
        "legacy_id": label.legacy_id,
        "account_id": account_id,
        "shipment_id": shipment.id,
        "order_id": shipment.order_id,
        "order_number": order.order_number if order else None,
        "box_id": None,
        "box_name": None,
        "status": label.status,
        "tracking_number": label.tracking_number,
        "tracking_url": lifecycle.tracking_url(label.carrier, label.tracking_number),
        "carrier": label.carrier,
        "shipping_name": label.shipping_name,
        "shipping_method": label.shipping_method,
        "cost": cents_to_str(label.cost),
        "profile": "default",
        "partner_fulfillment_id": None,
        "full_size_to_print": None,
        "packing_slip": None,
        "warehouse": WAREHOUSE_IDENTIFIER,
        "warehouse_id": shipment.warehouse_id,
        "insurance_amount": "0.00",
        "carrier_account_id": None,
        "source": "shiphero",
        "created_date": _dt(label.created_date),
        "delivered": False,
        "picked_up": False,
        "refunded": False,
        "needs_refund": False,
        "address": _plain_address(order.shipping_address) if order else None,
    }


def _shipment_node(state: ShipHeroState, shipment: ShipHeroShipment) -> dict[str, Any]:
    world = state.sandbox.world
    order = world.shiphero_orders.get(shipment.order_id)
    first_label = shipment.labels[0].id if shipment.labels else None
    by_id = {li.id: li for li in order.line_items} if order else {}
    rows = [
        {
            "id": lifecycle.relay_id("ShipmentLineItem", shipment.legacy_id * 100 + i),
            "legacy_id": shipment.legacy_id * 100 + i,
            "line_item_id": li_id,
            "shipment_id": shipment.id,
            "shipping_label_id": first_label,
            "quantity": qty,
            "line_item": (
                _line_item_node(order, by_id[li_id], shipment.warehouse_id)
                if order and li_id in by_id
                else None
            ),
        }
        for i, (li_id, qty) in enumerate(shipment.line_items)
    ]
    return {
        "id": shipment.id,
        "legacy_id": shipment.legacy_id,
        "order_id": shipment.order_id,
        "user_id": None,
        "warehouse_id": shipment.warehouse_id,
        "pending_shipment_id": None,
        "address": _plain_address(order.shipping_address) if order else None,
        "profile": "default",
        "picked_up": False,
        "needs_refund": False,
        "refunded": False,
        "delivered": False,
        "shipped_off_shiphero": shipment.shipped_off_shiphero,
        "dropshipment": False,
        "completed": True,
        "created_date": _dt(shipment.created_date),
        "line_items": lambda _info, **args: _connection(state, rows, args, lambda row: row),
        "shipping_labels": [
            _label_node(world, shipment, label, state.account_id) for label in shipment.labels
        ],
        "order": lambda _info: _order_node(state, order) if order else None,
        "total_packages": len(shipment.labels),
    }


def _product_names(state: ShipHeroState) -> dict[str, str]:
    def compute() -> dict[str, str]:
        return {
            item.sku: f"{item.product_title} - {item.variant_title}"
            if item.variant_title
            else item.product_title
            for item in state.sandbox.world.shopify_inventory_items
        }

    return state.cached(("product-names",), compute)


def _warehouse_product_node(state: ShipHeroState, wp: ShipHeroWarehouseProduct) -> dict[str, Any]:
    return {
        "id": wp.id,
        "legacy_id": _legacy_from_relay(wp.id),
        "account_id": state.account_id,
        "sku": wp.sku,
        "warehouse_id": wp.warehouse_id,
        "warehouse_identifier": WAREHOUSE_IDENTIFIER,
        "price": "0.00",
        "value": "0.00",
        "value_currency": "USD",
        "on_hand": wp.on_hand,
        "inventory_bin": None,
        "inventory_overstock_bin": None,
        "reserve_inventory": wp.reserve,
        "replenishment_level": 0,
        "reorder_amount": 0,
        "reorder_level": 0,
        "backorder": wp.backorder,
        "allocated": wp.allocated,
        # ShipHero's `available` is on hand minus allocations; the reserve is only held back from what
        # it pushes to the sales channels (its schema says so), so it is not subtracted here.
        "available": wp.on_hand - wp.allocated,
        "non_sellable_quantity": 0,
        "in_tote": 0,
        "sell_ahead": 0,
        "custom": False,
        "customs_value": None,
        "active": True,
        "created_at": None,
        "updated_at": _dt(wp.updated_at),
        "product": lambda _info: _product_node(state, wp),
    }


def _product_node(state: ShipHeroState, wp: ShipHeroWarehouseProduct) -> dict[str, Any]:
    legacy = _legacy_from_relay(wp.id)
    return {
        "id": lifecycle.relay_id("Product", legacy),
        "legacy_id": legacy,
        "account_id": state.account_id,
        "name": _product_names(state).get(wp.sku, wp.sku),
        "sku": wp.sku,
        "barcode": None,
        "country_of_manufacture": None,
        "tariff_code": None,
        "kit": False,
        "kit_build": False,
        "no_air": False,
        "final_sale": False,
        "customs_value": None,
        "customs_description": None,
        "not_owned": False,
        "dropship": False,
        "needs_serial_number": False,
        "needs_lot_tracking": False,
        "virtual": False,
        "thumbnail": None,
        "large_thumbnail": None,
        "product_note": None,
        "packer_note": None,
        "tags": [],
        "created_at": None,
        "updated_at": _dt(wp.updated_at),
        "warehouse_products": lambda _info: [_warehouse_product_node(state, wp)],
    }


# ------------------------------------------------------------------------------------- pagination
def _cursor(offset: int) -> str:
    return base64.b64encode(f"arrayconnection:{offset}".encode()).decode()


def _cursor_offset(cursor: str | None) -> int | None:
    """graphene's offset cursors; an unreadable cursor counts as absent, as graphql-relay does."""
    if not cursor:
        return None
    try:
        prefix, _, offset = base64.b64decode(cursor).decode().partition(":")
        return int(offset) if prefix == "arrayconnection" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _connection(
    state: ShipHeroState,
    items: Sequence[Any],
    args: dict[str, Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    total: bool = False,
    corrupt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """graphql-relay's connection_from_array over `items`, with ShipHero's default page of 100."""
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    if first is None and last is None:
        first = DEFAULT_PAGE
    n = len(items)
    after_offset = _cursor_offset(after)
    before_offset = _cursor_offset(before)
    start = 0 if after_offset is None else after_offset + 1
    if after_offset is not None and after_offset >= 0 and state.sandbox.faults.repeat_boundary():
        start = after_offset  # the fault policy repeats the last record of the previous page
    end = n if before_offset is None else min(n, before_offset)
    if first is not None:
        if first < 0:
            raise GraphQLError("Argument 'first' must be a non-negative integer.")
        end = min(end, start + first)
    if last is not None:
        if last < 0:
            raise GraphQLError("Argument 'last' must be a non-negative integer.")
        start = max(start, end - last)
    start = max(0, start)
    edges = []
    for i in range(start, max(start, end)):
        node = render(items[i])
        if corrupt is not None:
            node = corrupt(node)
        edges.append({"cursor": _cursor(i), "node": node})
    lower = after_offset + 1 if after_offset is not None else 0
    upper = before_offset if before_offset is not None else n
    result = {
        "edges": edges,
        "pageInfo": {
            "hasPreviousPage": last is not None and start > lower,
            "hasNextPage": first is not None and end < upper,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
    if total:
        result["total_count"] = n
    return result


def _window(view: Sequence[Any], attr: str, lo: Any, hi: Any) -> tuple[int, int]:
    """The slice of a sorted view whose `attr` lies in [lo, hi] (either bound optional)."""
    key = attrgetter(attr)
    start = 0 if lo is None else bisect_left(view, lo, key=key)
    end = len(view) if hi is None else bisect_right(view, hi, key=key)
    return start, max(start, end)


@dataclass(frozen=True)
class _Range:
    attr: str
    lo: Any = None
    hi: Any = None

    def holds(self, row: Any) -> bool:
        value = getattr(row, self.attr)
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


def _select(
    state: ShipHeroState,
    table: Any,
    name: str,
    *,
    ranges: list[_Range],
    predicate: Callable[[Any], bool] | None,
    sort: tuple[str, bool],
    key_attr: str,
    args_key: tuple,
) -> Sequence[Any]:
    """Rows matching `ranges` (bisected on a cached sorted view) and `predicate`, in `sort` order."""
    sort_attr, desc = sort
    if not ranges and predicate is None:
        return table.sorted_by(sort_attr, reverse=desc)

    def compute() -> list[Any]:
        if ranges:
            first, rest = ranges[0], ranges[1:]
            view = table.sorted_by(first.attr)
            start, end = _window(view, first.attr, first.lo, first.hi)
            rows = view[start:end]
            already_sorted = first.attr == sort_attr
        else:
            rest, rows, already_sorted = [], table.sorted_by(sort_attr), True
        # A sync re-anchors its window after every page (a fresh listing each time), so with nothing left
        # to check the bisected slice is the answer: a per-row pass here made a large sync quadratic. The
        # slice is a copy (the uncut cached view only comes with a predicate), so sort and reverse stay local.
        if rest or predicate is not None:
            rows = [r for r in rows if all(rg.holds(r) for rg in rest) and (predicate is None or predicate(r))]
        if not already_sorted:
            rows.sort(key=attrgetter(sort_attr, key_attr))
        if desc:
            rows.reverse()
        return rows

    return state.cached((name, args_key, sort), compute)


def _sort_arg(sort: str | None, allowed: dict[str, str], default: str) -> tuple[str, bool]:
    if not sort:
        return default, False
    desc = sort.startswith("-")
    name = sort.lstrip("-+").strip()
    if name not in allowed:
        raise GraphQLError(f"Invalid sort field: {name}. Options are: {', '.join(sorted(allowed))}")
    return allowed[name], desc


def _freeze(args: dict[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()))


# ------------------------------------------------------------------------------------------ reads
def _find_order(world: World, ident: str | None) -> ShipHeroOrder | None:
    """ShipHero accepts both the Relay id and the legacy (REST) id wherever an order id goes."""
    if not ident:
        return None
    order = world.shiphero_orders.get(ident)
    if order is None and ident.strip().isdigit():
        order = world.shiphero_orders.get(lifecycle.relay_id("Order", int(ident)))
    return order


def _normalise_status(status: str) -> str:
    return CANCELED if status.strip().lower() in ("canceled", "cancelled") else status.strip()


def _wrap(info: Any, data: Any) -> dict[str, Any]:
    ctx = info.context
    key = info.path.key
    analyzed = key in ctx["analyze"]
    return {
        "request_id": ctx["request_id"],
        "complexity": ctx["complexity"].get(key, 0),
        "data": None if analyzed else data,
    }


def _corrupter(state: ShipHeroState, kind: str, **paths: Any) -> Callable[[dict], dict] | None:
    faults = state.sandbox.faults
    if faults.mode != "hostile":
        return None
    return lambda node: faults.corrupt(kind, node, **paths)


def _order_corrupter(state: ShipHeroState) -> Callable[[dict], dict] | None:
    return _corrupter(
        state,
        "shiphero.order",
        id_path=("id",),
        amount_path=("total_price",),
        currency_path=("currency",),
        timestamp_path=("updated_at",),
    )


ORDER_SORTS = {
    "id": "legacy_id",
    "legacy_id": "legacy_id",
    "order_date": "order_date",
    "updated_at": "updated_at",
    "order_number": "order_number",
    "partner_order_id": "partner_order_id",
}


def resolve_orders(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    world = state.sandbox.world
    filters = {k: v for k, v in args.items() if v is not None and k not in ("analyze", "customer_account_id")}
    ranges: list[_Range] = []
    if "partner_order_id" in filters:
        ranges.append(_Range("partner_order_id", filters["partner_order_id"], filters["partner_order_id"]))
    if "order_number" in filters:
        ranges.append(_Range("order_number", filters["order_number"], filters["order_number"]))
    if "updated_from" in filters or "updated_to" in filters:
        ranges.append(_Range("updated_at", filters.get("updated_from"), filters.get("updated_to")))
    if "order_date_from" in filters or "order_date_to" in filters:
        ranges.append(_Range("order_date", filters.get("order_date_from"), filters.get("order_date_to")))
    checks: list[Callable[[ShipHeroOrder], bool]] = []
    if "ids" in filters:
        wanted = {o.id for o in (_find_order(world, i) for i in filters["ids"] if i) if o is not None}
        checks.append(lambda o: o.id in wanted)
    if "shop_name" in filters:
        checks.append(lambda o: o.shop_name == filters["shop_name"])
    if "fulfillment_status" in filters:
        status = _normalise_status(filters["fulfillment_status"])
        checks.append(lambda o: o.fulfillment_status == status)
    if "email" in filters:
        checks.append(lambda o: o.email == filters["email"])
    if "sku" in filters:
        checks.append(lambda o: any(li.sku == filters["sku"] for li in o.line_items))
    for arg in ("warehouse_id", "allocated_warehouse_id"):
        if arg in filters:
            checks.append(lambda o, wid=filters[arg]: wid == world.shiphero_warehouse_id)
    if "has_hold" in filters:
        checks.append(lambda o: _has_hold(o.holds) == filters["has_hold"])
    for hold in ("operator_hold", "address_hold", "payment_hold", "fraud_hold", "client_hold"):
        if hold in filters:
            checks.append(lambda o, h=hold: getattr(o.holds, h) == filters[h])
    predicate = (lambda o: all(check(o) for check in checks)) if checks else None
    corrupt = _order_corrupter(state)

    def data(_info: Any, **page: Any) -> dict[str, Any]:
        sort = _sort_arg(page.get("sort"), ORDER_SORTS, "legacy_id")
        rows = _select(
            state, world.shiphero_orders, "orders", ranges=ranges, predicate=predicate, sort=sort,
            key_attr="id", args_key=_freeze(filters),
        )  # fmt: skip
        return _connection(state, rows, page, lambda o: _order_node(state, o), corrupt=corrupt)

    return _wrap(info, data)


def _has_hold(holds: ShipHeroHolds) -> bool:
    return (
        holds.payment_hold
        or holds.operator_hold
        or holds.fraud_hold
        or holds.address_hold
        or holds.client_hold
    )


def resolve_order(_root: Any, info: Any, id: str, analyze: bool | None = None) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    order = _find_order(state.sandbox.world, id)
    if order is None:
        raise GraphQLError(f"Order with id {id} not found")
    node = _order_node(state, order)
    corrupt = _order_corrupter(state)
    return _wrap(info, corrupt(node) if corrupt else node)


SHIPMENT_SORTS = {"id": "legacy_id", "legacy_id": "legacy_id", "created_date": "created_date"}


def resolve_shipments(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    world = state.sandbox.world
    filters = {k: v for k, v in args.items() if v is not None and k not in ("analyze", "customer_account_id")}
    ranges: list[_Range] = []
    checks: list[Callable[[ShipHeroShipment], bool]] = []
    order = _find_order(world, filters["order_id"]) if "order_id" in filters else None
    if "tracking_number" in filters:
        number = filters["tracking_number"]
        checks.append(lambda s: any(label.tracking_number == number for label in s.labels))
    if "date_from" in filters or "date_to" in filters:
        ranges.append(_Range("created_date", filters.get("date_from"), filters.get("date_to")))
    if "order_date_from" in filters or "order_date_to" in filters:
        lo, hi = filters.get("order_date_from"), filters.get("order_date_to")

        def order_dated(s: ShipHeroShipment) -> bool:
            placed = world.shiphero_orders.get(s.order_id)
            return (
                placed is not None
                and (lo is None or placed.order_date >= lo)
                and (hi is None or placed.order_date <= hi)
            )

        checks.append(order_dated)
    corrupt = _corrupter(state, "shiphero.shipment", id_path=("id",), timestamp_path=("created_date",))

    def data(_info: Any, **page: Any) -> dict[str, Any]:
        sort = _sort_arg(page.get("sort"), SHIPMENT_SORTS, "legacy_id")
        if "order_id" in filters:
            # the world indexes shipments by order: the per-order read a correction makes scans nothing
            mine = _shipments_of(world, order.id) if order else []
            rows: Sequence[ShipHeroShipment] = sorted(
                (s for s in mine if all(rg.holds(s) for rg in ranges) and all(check(s) for check in checks)),
                key=attrgetter(sort[0], "id"),
                reverse=sort[1],
            )
        else:
            predicate = (lambda s: all(check(s) for check in checks)) if checks else None
            rows = _select(
                state, world.shiphero_shipments, "shipments", ranges=ranges, predicate=predicate, sort=sort,
                key_attr="id", args_key=_freeze(filters),
            )  # fmt: skip
        return _connection(state, rows, page, lambda s: _shipment_node(state, s), corrupt=corrupt)

    return _wrap(info, data)


def resolve_shipment(
    _root: Any, info: Any, id: str | None = None, analyze: bool | None = None
) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    world = state.sandbox.world
    shipment = world.shiphero_shipments.get(id) if id else None
    if shipment is None and id and id.isdigit():
        shipment = world.shiphero_shipments.get(lifecycle.relay_id("Shipment", int(id)))
    if shipment is None:
        raise GraphQLError(f"Shipment with id {id} not found")
    return _wrap(info, _shipment_node(state, shipment))


PRODUCT_SORTS = {"sku": "sku", "updated_at": "updated_at"}


def _product_rows(
    state: ShipHeroState, name: str, filters: dict[str, Any], sort: tuple[str, bool]
) -> Sequence[Any]:
    world = state.sandbox.world
    ranges: list[_Range] = []
    if "sku" in filters:
        ranges.append(_Range("sku", filters["sku"], filters["sku"]))
    if "updated_from" in filters or "updated_to" in filters:
        ranges.append(_Range("updated_at", filters.get("updated_from"), filters.get("updated_to")))
    checks: list[Callable[[ShipHeroWarehouseProduct], bool]] = []
    if "warehouse_id" in filters:
        checks.append(lambda wp: wp.warehouse_id == filters["warehouse_id"])
    if filters.get("active") is False or filters.get("has_kits") is True:
        checks.append(lambda wp: False)  # every sandbox product is active and none is a kit
    predicate = (lambda wp: all(check(wp) for check in checks)) if checks else None
    return _select(
        state, world.shiphero_products, name, ranges=ranges, predicate=predicate, sort=sort, key_attr="sku",
        args_key=_freeze(filters),
    )  # fmt: skip


def resolve_products(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    filters = {k: v for k, v in args.items() if v is not None and k not in ("analyze", "customer_account_id")}

    def data(_info: Any, **page: Any) -> dict[str, Any]:
        rows = _product_rows(state, "products", filters, _sort_arg(page.get("sort"), PRODUCT_SORTS, "sku"))
        return _connection(state, rows, page, lambda wp: _product_node(state, wp))

    return _wrap(info, data)


def resolve_product(_root: Any, info: Any, id: str | None = None, sku: str | None = None, **_: Any) -> dict:
    state: ShipHeroState = info.context["state"]
    products = state.sandbox.world.shiphero_products
    wp = products.get(sku) if sku else None
    if wp is None and id:
        legacy = _legacy_from_relay(id) if not id.isdigit() else int(id)
        by_legacy = state.cached(
            ("products-by-legacy",), lambda: {_legacy_from_relay(p.id): p for p in products}
        )
        wp = by_legacy.get(legacy)
    if wp is None:
        raise GraphQLError(f"Product with {'sku ' + sku if sku else 'id ' + str(id)} not found")
    return _wrap(info, _product_node(state, wp))


def resolve_warehouse_products(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    filters = {k: v for k, v in args.items() if v is not None and k not in ("analyze", "customer_account_id")}
    corrupt = _corrupter(state, "shiphero.warehouse_product", id_path=("id",), timestamp_path=("updated_at",))

    def data(_info: Any, **page: Any) -> dict[str, Any]:
        rows = _product_rows(
            state, "warehouse_products", filters, _sort_arg(page.get("sort"), PRODUCT_SORTS, "sku")
        )
        return _connection(state, rows, page, lambda wp: _warehouse_product_node(state, wp), corrupt=corrupt)

    return _wrap(info, data)


def resolve_user_quota(_root: Any, info: Any) -> dict[str, Any]:
    state: ShipHeroState = info.context["state"]
    remaining = state.credits[info.context["subject"]].refill()
    return {
        "credits_remaining": int(remaining),
        "expiration_date": None,
        "increment_rate": CREDITS_PER_SECOND,
        "is_expired": False,
        "max_available": MAX_CREDITS,
        "time_remaining": None,
    }


# -------------------------------------------------------------------------------------- mutations
def _mutation(name: str) -> Callable[[Callable[..., ShipHeroOrder]], Callable[..., dict[str, Any]]]:
    """Wrap an order mutation: count it, stamp the order, answer ShipHero's OrderMutationOutput."""

    def decorate(apply: Callable[..., ShipHeroOrder]) -> Callable[..., dict[str, Any]]:
        def resolve(_root: Any, info: Any, data: dict[str, Any]) -> dict[str, Any]:
            state: ShipHeroState = info.context["state"]
            stats = state.sandbox.stats
            try:
                order = apply(state, data)
            except GraphQLError:
                stats.mutation(API, name, False)
                raise
            stats.mutation(API, name, True)
            ctx = info.context
            return {
                "request_id": ctx["request_id"],
                "complexity": ctx["complexity"].get(info.path.key, MUTATION_COST),
                "order": _order_node(state, order),
            }

        return resolve

    return decorate


def _order_for_update(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    order = _find_order(state.sandbox.world, data.get("order_id"))
    if order is None:
        raise GraphQLError(f"Order with id {data.get('order_id')} not found")
    return order


def _touch(world: World, order: ShipHeroOrder) -> None:
    order.updated_at = world.clock
    world.changed()


def _recompute_total(state: ShipHeroState, order: ShipHeroOrder) -> None:
    """ShipHero calculates the order total itself (its total_price input is deprecated)."""
    extras = state.extras.get(order.id, {})
    tax = _money(extras.get("total_tax", "0.00"), "total_tax")
    discounts = _money(extras.get("total_discounts", "0.00"), "total_discounts")
    items = sum(li.price * li.quantity for li in order.line_items)
    order.total_price = items + order.shipping_price + tax - discounts


def _apply_address(order: ShipHeroOrder, data: dict[str, Any]) -> None:
    a = order.shipping_address
    mapping = {
        "first_name": "first_name", "last_name": "last_name", "company": "company", "address1": "address1",
        "address2": "address2", "city": "city", "state": "province", "state_code": "province_code",
        "zip": "zip", "country": "country", "country_code": "country_code", "phone": "phone",
    }  # fmt: skip
    changes = {attr: data[key] for key, attr in mapping.items() if key in data}
    for attr in ("first_name", "last_name", "address1", "city", "zip", "country", "country_code"):
        if attr in changes and changes[attr] is None:
            changes[attr] = ""  # the record keeps these as text; a null clears them
    order.shipping_address = replace(a, **changes)
    if data.get("email") and not order.email:
        order.email = data["email"]  # the order's own email takes precedence over the address's


def _apply_shipping_lines(order: ShipHeroOrder, lines: dict[str, Any]) -> None:
    order.shipping_title = lines["title"]
    order.shipping_price = _money(lines["price"], "shipping_lines.price")
    if lines.get("carrier") is not None:
        order.shipping_carrier = lines["carrier"]
    if lines.get("method") is not None:
        order.shipping_method = lines["method"]


def _new_line_item(world: World, data: dict[str, Any]) -> ShipHeroLineItem:
    if data["quantity"] < 0:
        raise GraphQLError("Line item quantity must be a positive integer")
    legacy = world.next_id("shiphero_line_item", 520_000_000)
    return ShipHeroLineItem(
        id=lifecycle.relay_id("LineItem", legacy),
        legacy_id=legacy,
        sku=data["sku"],
        partner_line_item_id=data["partner_line_item_id"],
        product_name=data.get("product_name") or data["sku"],
        quantity=data["quantity"],
        price=_money(data["price"], "price"),
        fulfillment_status=data.get("fulfillment_status") or "pending",
    )


def _allocate(world: World, order: ShipHeroOrder, sku: str, quantity: int) -> None:
    """A live order holds stock for its open quantity (ShipHero allocates on import)."""
    if quantity and order.fulfillment_status != CANCELED:
        lifecycle.adjust_stock(world, sku, allocated=quantity)


@_mutation("order_create")
def order_create(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    shop_name = data.get("shop_name") or SHOP_NAME
    partner_order_id = data.get("partner_order_id")
    if partner_order_id:
        view = world.shiphero_orders.sorted_by("partner_order_id")
        start, end = _window(view, "partner_order_id", partner_order_id, partner_order_id)
        if any(o.shop_name == shop_name for o in view[start:end]):
            raise GraphQLError(
                f"An order with partner_order_id {partner_order_id} already exists for shop {shop_name}"
            )
    address_in = data["shipping_address"]
    legacy = world.next_id("shiphero_order", 310_000_000)
    while lifecycle.relay_id("Order", legacy) in world.shiphero_orders:
        legacy = world.next_id("shiphero_order", 310_000_000)
    line_items = [_new_line_item(world, li) for li in (data.get("line_items") or []) if li is not None]
    lines = data.get("shipping_lines") or {}
    holds_in = data.get("holds") or {}
    status = _normalise_status(data.get("fulfillment_status") or "pending")
    order = ShipHeroOrder(
        id=lifecycle.relay_id("Order", legacy),
        legacy_id=legacy,
        order_number=data.get("order_number") or str(legacy),
        partner_order_id=partner_order_id or str(legacy),
        shop_name=shop_name,
        fulfillment_status=status,
        order_date=data.get("order_date") or world.clock,
        updated_at=world.clock,
        currency=(data.get("currency") or "USD").upper(),
        email=data.get("email") or address_in.get("email") or "",
        shipping_address=Address(
            first_name=address_in.get("first_name") or "",
            last_name=address_in.get("last_name") or "",
            address1=address_in.get("address1") or "",
            address2=address_in.get("address2"),
            city=address_in.get("city") or "",
            province=address_in.get("state"),
            province_code=address_in.get("state_code"),
            zip=address_in.get("zip") or "",
            country=address_in.get("country") or "",
            country_code=address_in.get("country_code") or "",
            phone=address_in.get("phone"),
            company=address_in.get("company"),
        ),
        shipping_carrier=lines.get("carrier") or "",
        shipping_method=lines.get("method") or "",
        shipping_title=lines.get("title") or "",
        shipping_price=_money(lines["price"], "shipping_lines.price") if lines else 0,
        line_items=line_items,
        holds=ShipHeroHolds(**{k: bool(v) for k, v in holds_in.items() if v is not None}),
        cancelled_at=world.clock if status == CANCELED else None,
    )
    _store_extras(state, order.id, data)
    _recompute_total(state, order)
    world.shiphero_orders.add(order)
    # the merchant's integration links the 3PL order to its Shopify order through partner_order_id
    links = getattr(world, "integration_links", None)
    if links is not None and order.partner_order_id.isdigit():
        shopify_id = int(order.partner_order_id)
        if shopify_id in world.shopify_orders and shopify_id not in links:
            links[shopify_id] = order.id
    for li in order.line_items:
        _allocate(world, order, li.sku, li.quantity)
    return order


@_mutation("order_update")
def order_update(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    if data.get("fulfillment_status") is not None:
        _set_status(world, order, data["fulfillment_status"], force=False)  # may refuse: before any change
    if data.get("shipping_address") is not None:
        _apply_address(order, data["shipping_address"])
    if data.get("shipping_lines") is not None:
        _apply_shipping_lines(order, data["shipping_lines"])
    for attr in ("order_number", "partner_order_id", "email"):
        if data.get(attr) is not None:
            setattr(order, attr, data[attr])
    if data.get("order_date") is not None:
        order.order_date = data["order_date"]
    _store_extras(state, order.id, data)
    _recompute_total(state, order)
    _touch(world, order)
    return order


@_mutation("order_add_line_items")
def order_add_line_items(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    added = [_new_line_item(world, li) for li in data["line_items"] if li is not None]
    order.line_items.extend(added)
    _recompute_total(state, order)
    _touch(world, order)
    for li in added:
        _allocate(world, order, li.sku, li.quantity)
    return order


def _find_line_item(order: ShipHeroOrder, ident: str) -> ShipHeroLineItem:
    for li in order.line_items:
        if ident in (li.id, str(li.legacy_id)):
            return li
    raise GraphQLError(f"Line item with id {ident} not found in order {order.id}")


@_mutation("order_update_line_items")
def order_update_line_items(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    updates = [(u, _find_line_item(order, u["id"])) for u in (data.get("line_items") or []) if u is not None]
    moves: list[tuple[str, int]] = []
    for update, li in updates:
        if update.get("quantity") is not None:
            if update["quantity"] < li.quantity_shipped:
                raise GraphQLError(
                    f"Quantity for line item {li.id} cannot be lower than the quantity shipped ({li.quantity_shipped})"
                )
            moves.append((li.sku, update["quantity"] - li.quantity))
            li.quantity = update["quantity"]
        if update.get("price") is not None:
            li.price = _money(update["price"], "price")
        for attr in ("sku", "partner_line_item_id", "product_name", "fulfillment_status"):
            if update.get(attr) is not None:
                setattr(li, attr, update[attr])
    _recompute_total(state, order)
    _touch(world, order)
    for sku, delta in moves:
        _allocate(world, order, sku, delta)
    return order


@_mutation("order_remove_line_items")
def order_remove_line_items(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    doomed = [_find_line_item(order, ident) for ident in (data.get("line_item_ids") or []) if ident]
    for li in doomed:
        if li.quantity_shipped > 0:
            raise GraphQLError(f"Line item {li.id} has been shipped and cannot be removed")
    gone = {li.id for li in doomed}
    order.line_items = [li for li in order.line_items if li.id not in gone]
    _recompute_total(state, order)
    _touch(world, order)
    for li in doomed:
        _allocate(world, order, li.sku, -(li.quantity - li.quantity_shipped))
    return order


def _set_status(world: World, order: ShipHeroOrder, status: str, *, force: bool) -> None:
    status = _normalise_status(status)
    if status == order.fulfillment_status:
        return
    if status == CANCELED:
        shipped = any(label.status == "valid" for s in _shipments_of(world, order.id) for label in s.labels)
        if shipped and not force:
            raise GraphQLError(f"Order {order.id} has valid labels and shipments; use force to cancel it")
        lifecycle.cancel_in_shiphero(world, order)
        return
    if order.fulfillment_status == CANCELED:
        order.cancelled_at = None
        for li in order.line_items:
            lifecycle.adjust_stock(world, li.sku, allocated=li.quantity - li.quantity_shipped)
    order.fulfillment_status = status
    _touch(world, order)


@_mutation("order_update_fulfillment_status")
def order_update_fulfillment_status(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    _set_status(world, order, data["fulfillment_status"], force=False)
    _touch(world, order)
    return order


@_mutation("order_cancel")
def order_cancel(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    _set_status(world, order, CANCELED, force=bool(data.get("force")))
    _touch(world, order)
    return order


@_mutation("order_update_holds")
def order_update_holds(state: ShipHeroState, data: dict[str, Any]) -> ShipHeroOrder:
    world = state.sandbox.world
    order = _order_for_update(state, data)
    for hold in ("payment_hold", "operator_hold", "fraud_hold", "address_hold", "client_hold"):
        if data.get(hold) is not None:
            setattr(order.holds, hold, bool(data[hold]))
    _touch(world, order)
    return order


# ------------------------------------------------------------------------------------------ schema
QUERY_RESOLVERS: dict[str, Callable[..., Any]] = {
    "order": resolve_order,
    "orders": resolve_orders,
    "shipment": resolve_shipment,
    "shipments": resolve_shipments,
    "product": resolve_product,
    "products": resolve_products,
    "warehouse_products": resolve_warehouse_products,
    "user_quota": resolve_user_quota,
}
MUTATION_RESOLVERS: dict[str, Callable[..., Any]] = {
    "order_create": order_create,
    "order_update": order_update,
    "order_add_line_items": order_add_line_items,
    "order_update_line_items": order_update_line_items,
    "order_remove_line_items": order_remove_line_items,
    "order_update_fulfillment_status": order_update_fulfillment_status,
    "order_update_holds": order_update_holds,
    "order_cancel": order_cancel,
}


@cache
def schema() -> GraphQLSchema:
    """ShipHero's schema subset, with the sandbox's resolvers and ISODateTime parsing attached."""
    sdl = resources.files("shipshape_sandbox.apis").joinpath("shiphero_schema.graphql").read_text()
    built = build_schema(sdl)
    iso = built.type_map["ISODateTime"]
    iso.parse_value = iso.coerce_input_value = _parse_dt  # type: ignore[method-assign]
    iso.parse_literal = _parse_dt_literal  # type: ignore[method-assign]
    assert built.query_type is not None and built.mutation_type is not None
    for name, resolver in QUERY_RESOLVERS.items():
        built.query_type.fields[name].resolve = resolver
    for name, resolver in MUTATION_RESOLVERS.items():
        built.mutation_type.fields[name].resolve = resolver
    return built


# -------------------------------------------------------------------------------------- complexity
def _arg_value(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        value = arg.value
        if isinstance(value, VariableNode):
            return variables.get(value.name.value)
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, BooleanValueNode):
            return value.value
        return getattr(value, "value", None)
    return None


def _fields(selection_set: Any, fragments: dict[str, Any]) -> Iterable[FieldNode]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments)


def _nested_cost(
    selection_set: Any, parent: Any, fragments: dict[str, Any], variables: dict[str, Any]
) -> int:
    """What a selection costs below its parent: each connection costs its page size times (1 + its
    nodes' own nested cost); plain objects cost what their connections cost; scalars are free."""
    if not isinstance(parent, GraphQLObjectType):
        return 0
    total = 0
    for node in _fields(selection_set, fragments):
        definition = parent.fields.get(node.name.value)
        if definition is None:
            continue
        target = get_named_type(definition.type)
        if not isinstance(target, GraphQLObjectType):
            continue
        inner = _nested_cost(node.selection_set, target, fragments, variables)
        if target.name.endswith("Connection"):
            size = _arg_value(node, "first", variables)
            if size is None:
                size = _arg_value(node, "last", variables)
            size = DEFAULT_PAGE if size is None else max(0, int(size))
            total += size * (1 + inner)
        else:
            total += inner
    return total


def operation_costs(
    built: GraphQLSchema, operation: Any, fragments: dict[str, Any], variables: dict[str, Any]
) -> tuple[dict[str, int], set[str], list[str]]:
    """Per top-level response key: its complexity; which keys only ask to be analysed; field names."""
    is_mutation = operation.operation == OperationType.MUTATION
    root = built.mutation_type if is_mutation else built.query_type
    costs: dict[str, int] = {}
    analyzed: set[str] = set()
    names: list[str] = []
    for node in _fields(operation.selection_set, fragments):
        name = node.name.value
        if name.startswith("__") or root is None or name not in root.fields:
            continue
        key = node.alias.value if node.alias else name
        target = get_named_type(root.fields[name].type)
        costs[key] = (MUTATION_COST if is_mutation else 1) + _nested_cost(
            node.selection_set, target, fragments, variables
        )
        names.append(name)
        if not is_mutation and _arg_value(node, "analyze", variables) is True:
            analyzed.add(key)
    return costs, analyzed, names


# ------------------------------------------------------------------------------------------- HTTP
def _auth0_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _unauthorized(code: str, description: str) -> JSONResponse:
    return JSONResponse({"code": code, "description": description}, status_code=401)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _issue_access_token(state: ShipHeroState) -> str:
    now = int(state.clock())
    payload = {
        "iss": TOKEN_ISSUER,
        "sub": state.subject,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "azp": "sandbox" + state.secret[:24],
        "scope": TOKEN_SCOPE,
        "gty": "password",
    }
    return jwt.encode(payload, state.secret, algorithm="HS256")


def _authenticate(state: ShipHeroState, request: Request) -> str | JSONResponse:
    header = request.headers.get("authorization")
    if not header:
        return _unauthorized("authorization_header_missing", "Authorization header is expected")
    parts = header.split()
    if parts[0].lower() != "bearer":
        return _unauthorized("invalid_header", "Authorization header must start with Bearer")
    if len(parts) != 2:
        return _unauthorized("invalid_header", "Authorization header must be Bearer token")
    try:
        claims = jwt.decode(
            parts[1], state.secret, algorithms=["HS256"], audience=TOKEN_AUDIENCE, issuer=TOKEN_ISSUER,
            options={"verify_exp": False, "verify_iat": False},
        )  # fmt: skip
    except jwt.InvalidAudienceError:
        return _unauthorized("invalid_claims", "incorrect claims, please check the audience and issuer")
    except jwt.InvalidIssuerError:
        return _unauthorized("invalid_claims", "incorrect claims, please check the audience and issuer")
    except jwt.PyJWTError:
        return _unauthorized("invalid_header", "Unable to parse authentication token.")
    if float(claims.get("exp", 0)) <= state.clock():
        return _unauthorized("token_expired", "token is expired")
    return str(claims.get("sub"))


def _throttle_error(operation: str, request_id: str, required: int, remaining: float, wait: float) -> dict:
    seconds = max(1, math.ceil(wait))
    have = max(0, int(remaining))
    return {
        "code": THROTTLE_CODE,
        "message": (
            f"There are not enough credits to perfom the requested operation, which requires {required} "
            f"credits. The account currently has {have} credits remaining, and you can get {required} "
            f"credits in {seconds} seconds"
        ),
        "operation": operation,
        "request_id": request_id,
        "required_credits": required,
        "remaining_credits": have,
        "time_remaining": f"{seconds} seconds",
    }


def render_error(status: int, retry_after: float | None) -> Response:
    """Injected faults as ShipHero shows them: throttles as its code 30 error, 5xx from its proxy."""
    if status == 429:
        wait = retry_after or 1.0
        body = {"errors": [_throttle_error("graphql", "0" * 24, MAX_CREDITS, 0, wait)], "data": None}
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}.get(
        status, "Internal Server Error"
    )
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return HTMLResponse(html, status_code=status)


def build(sandbox: Sandbox) -> list[BaseRoute]:
    state = state_for(sandbox)
    creds = sandbox.credentials
    sandbox.register_error_renderer(API, render_error)
    sandbox.stats.limit(f"{API}:credits", MAX_CREDITS, CREDITS_PER_SECOND, "account")
    sandbox.stats.limit(f"{API}:requests", REQUESTS_PER_WINDOW, REQUESTS_PER_WINDOW / REQUEST_WINDOW_SECONDS, "account")

    async def auth_token(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _auth0_error(400, "invalid_request", "Missing required parameter: username")
        username, password = body.get("username"), body.get("password")
        if not username:
            return _auth0_error(400, "invalid_request", "Missing required parameter: username")
        if not password:
            return _auth0_error(400, "invalid_request", "Missing required parameter: password")
        if username != creds.shiphero_username or password != creds.shiphero_password:
            return _auth0_error(403, "invalid_grant", "Wrong email or password.")
        return JSONResponse(
            {
                "access_token": _issue_access_token(state),
                "expires_in": TOKEN_TTL,
                "scope": TOKEN_SCOPE,
                "token_type": "Bearer",
                "refresh_token": state.refresh_token,
            }
        )

    async def auth_refresh(request: Request) -> Response:
        body = await _json_body(request)
        token = body.get("refresh_token") if isinstance(body, dict) else None
        if not token:
            return _auth0_error(400, "invalid_request", "Missing required parameter: refresh_token")
        if token != state.refresh_token:
            return _auth0_error(403, "invalid_grant", "Unknown or invalid refresh token.")
        return JSONResponse(
            {
                "access_token": _issue_access_token(state),
                "expires_in": TOKEN_TTL,
                "scope": TOKEN_SCOPE,
                "token_type": "Bearer",
            }
        )

    async def graphql_endpoint(request: Request) -> Response:
        body = await _json_body(request)
        subject = _authenticate(state, request)
        if isinstance(subject, Response):
            return subject
        if not isinstance(body, dict):
            return JSONResponse({"errors": [{"message": "POST body sent invalid JSON."}]}, status_code=400)
        return run_graphql(state, subject, body)

    return [
        Route("/auth/token", auth_token, methods=["POST"]),
        Route("/auth/refresh", auth_refresh, methods=["POST"]),
        Route("/graphql", graphql_endpoint, methods=["POST"]),
    ]


def run_graphql(state: ShipHeroState, subject: str, body: dict[str, Any]) -> Response:
    """Parse, validate, charge credits, execute: one GraphQL request against the world."""
    sandbox = state.sandbox
    query = body.get("query")
    variables = body.get("variables") or {}
    operation_name = body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return JSONResponse({"errors": [{"message": "Must provide query string."}]}, status_code=400)
    if not isinstance(variables, dict):
        return JSONResponse({"errors": [{"message": "Variables are invalid JSON."}]}, status_code=400)
    if sandbox.rate_limited:
        taken, wait = state.requests[subject].try_take(1)
        if not taken:
            sandbox.stats.throttled[API] += 1
            seconds = max(1, math.ceil(wait))
            body_429 = {
                "errors": [{"message": f"Too many requests. Try again in {seconds} seconds", "code": 429}]
            }
            return JSONResponse(body_429, status_code=429, headers={"Retry-After": str(seconds)})
    sandbox.stats.charge(f"{API}:requests", 1)
    built = schema()
    try:
        document = parse(query)
    except GraphQLError as error:
        return JSONResponse({"errors": [error.formatted]}, status_code=400)
    errors = validate(built, document)
    if errors:
        return JSONResponse({"errors": [e.formatted for e in errors]}, status_code=400)
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        message = (
            f"Unknown operation named '{operation_name}'."
            if operation_name
            else "Must provide operation name if query contains multiple operations."
        )
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    costs, analyzed, names = operation_costs(built, operation, fragments, variables)
    request_id = state.request_id()
    is_mutation = operation.operation == OperationType.MUTATION
    charge = sum(cost for key, cost in costs.items() if key not in analyzed)
    if charge > MAX_CREDITS:
        error = {
            "message": (
                f"The operation requires {charge} credits, more than the {MAX_CREDITS} credits an operation "
                "may use; ask for fewer items (first/last) in its connections"
            ),
            "operation": names[0] if names else None,
            "request_id": request_id,
            "required_credits": charge,
            "max_credits": MAX_CREDITS,
        }
        return JSONResponse({"errors": [error], "data": {key: None for key in costs}})
    if sandbox.rate_limited and charge:
        bucket = state.credits[subject]
        taken, wait = bucket.try_take(charge)
        if not taken:
            sandbox.stats.throttled[API] += 1
            if is_mutation:
                for name in names:
                    sandbox.stats.mutation(API, name, False)
            error = _throttle_error(names[0] if names else "", request_id, charge, bucket.available, wait)
            return JSONResponse({"errors": [error], "data": {key: None for key in costs}})
    sandbox.stats.charge(f"{API}:credits", charge)
    context = {
        "state": state,
        "subject": subject,
        "request_id": request_id,
        "complexity": costs,
        "analyze": analyzed,
    }
    result = execute(
        built, document, variable_values=variables, operation_name=operation_name, context_value=context
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    return JSONResponse(payload, status_code=200 if result.data is not None else 400)
