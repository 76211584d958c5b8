"""The root query fields (orders, order, shipments, shipment, products, product, warehouse_products,
user_quota): filters and sorts, the `{request_id, complexity, data}` wrapper, and hostile-mode corruption.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from graphql import GraphQLError

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.shiphero.objects import (
    _legacy_from_relay,
    _order_node,
    _product_node,
    _shipment_node,
    _shipments_of,
    _warehouse_product_node,
)
from shipshape_sandbox.apis.shiphero.pagination import _connection, _freeze, _Range, _select, _sort_arg
from shipshape_sandbox.apis.shiphero.state import CANCELED, CREDITS_PER_SECOND, MAX_CREDITS, ShipHeroState
from shipshape_sandbox.world import (
    ShipHeroHolds,
    ShipHeroOrder,
    ShipHeroShipment,
    ShipHeroWarehouseProduct,
    World,
)


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
