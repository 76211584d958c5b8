"""The order mutations (create, update, line items, fulfillment status, holds, cancel), each answering
ShipHero's `{request_id, complexity, order}` output and keeping the world's stock allocations in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from graphql import GraphQLError

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.shiphero.objects import _money, _order_node, _shipments_of, _store_extras
from shipshape_sandbox.apis.shiphero.pagination import _window
from shipshape_sandbox.apis.shiphero.resolvers import _find_order, _normalise_status
from shipshape_sandbox.apis.shiphero.state import API, CANCELED, MUTATION_COST, SHOP_NAME, ShipHeroState
from shipshape_sandbox.world import Address, ShipHeroHolds, ShipHeroLineItem, ShipHeroOrder, World


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
