"""A correction never acts on stale data (issue 14): every writer reads the target right before writing and
skips, with a recorded reason, when the target already agrees or has moved on since the plan.

Each test serves a small seeded world through the real sandbox over HTTP, changes the world directly to
make the situation (an order stored in ShipHero with drifted ids, a Shopify sale after the plan, an order
that shipped, a charge refunded), calls the real writer with a hand-made plan row, and checks the Outcome
and the sandbox's mutation counters / the world's state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.corrections.writers import CONNECTION_IDS, Outcome, WriterOptions, guard_host, open_writer
from shipshape.sources.shiphero.corrections import normalize_order_ref, number_variants, partner_variants
from shipshape_sandbox import lifecycle
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import ShipHeroOrder, World

pytestmark = pytest.mark.integration


@dataclass
class Served:
    world: World
    sandbox: Sandbox
    connections: dict[str, Connection]  # by target

    def apply(self, action: Action, *, on_request=None) -> Outcome:
        """The real writer of the action's target, against the sandbox, with no waiting between attempts."""
        options = WriterOptions(sleep=lambda s: None, connections=dict(self.connections))
        conn = self.connections[action.target_system]
        writer = open_writer(action.target_system, conn, options)
        guard_host(writer.client, conn)  # type: ignore[attr-defined]
        if on_request is not None:
            writer.client.http.event_hooks["request"].append(on_request)  # type: ignore[attr-defined]
        try:
            return writer.apply(action)
        finally:
            writer.close()

    def received(self, prefix: str) -> int:
        return sum(n for op, n in self.sandbox.stats.mutations_received.items() if op.startswith(prefix))

    def applied(self, prefix: str) -> int:
        return sum(n for op, n in self.sandbox.stats.mutations_applied.items() if op.startswith(prefix))


@pytest.fixture
def served() -> Iterator[Served]:
    world = build_world(120, seed=5)
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        by_id = sandbox_connections(base, sandbox.credentials.as_json(), sandbox=True)
        yield Served(world, sandbox, {target: by_id[conn_id] for target, conn_id in CONNECTION_IDS.items()})


def make_action(target: str, name: str, payload: dict[str, Any], *, before: dict[str, Any] | None = None,
                object_id: str = "x", sku: str | None = None, order_name: str | None = None) -> Action:
    key = f"{target}|{name}|{json.dumps(payload, sort_keys=True, default=str)}"
    return Action(action_id=f"{target}:x:{object_id}:{name}", target_system=target, target_object="order",
                  target_object_id=object_id, action=name, api_operation=None, payload=payload, before_state=before,
                  mismatch_codes=("TEST",), severity="high", shopify_order_id=None, order_name=order_name, sku=sku,
                  idempotency_key=str(abs(hash(key))))


# ------------------------------------------------------------------------------------ 1. order_create
def test_id_variants_cover_the_drift_forms():
    assert normalize_order_ref(" gid://SHOPIFY/order/0061 ") == "61"
    assert normalize_order_ref("#0001001") == normalize_order_ref(" 1001\u00a0") == "1001"
    assert normalize_order_ref("000") == "0" and normalize_order_ref("  ") is None
    assert partner_variants("6100000000001") == ["6100000000001", "gid://shopify/Order/6100000000001"]
    assert partner_variants("gid://shopify/Order/61") == ["gid://shopify/Order/61", "61"]
    assert number_variants("#1001") == ["#1001", "1001"]


def _create_payload(world: World, order_id: int) -> dict[str, Any]:
    order = world.shopify_orders.get(order_id)
    return {
        "partner_order_id": str(order.id), "order_number": order.name, "email": order.email,
        "order_date": order.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "currency": order.currency,
        "shipping_address": {"first_name": "A", "last_name": "B", "address1": "1 Main St", "city": "X",
                             "zip": "10001", "country": "US", "country_code": "US"},
        "shipping_lines": {"title": "Ground", "method": "ground", "price": "5.00"},
        "line_items": [{"sku": li.sku, "partner_line_item_id": str(li.id), "quantity": li.current_quantity,
                        "price": "1.00"} for li in order.line_items if li.current_quantity > 0 and li.sku],
    }


def _only_drifted_copy(world: World, order_id: int, **drift: str) -> ShipHeroOrder:
    """Leave ShipHero with exactly one order for the Shopify order, stored with the drifted ids given."""
    order = world.shopify_orders.get(order_id)
    refs = {normalize_order_ref(str(order.id)), normalize_order_ref(order.name)}
    mine = [sh for sh in world.shiphero_orders
            if {normalize_order_ref(sh.partner_order_id), normalize_order_ref(sh.order_number)} & refs]
    assert mine, "the world's integration sent the order to ShipHero"
    for sh in mine:
        world.shiphero_orders.remove(sh.id)
    return world.shiphero_orders.add(replace(mine[0], **drift))


ORDER_NAME = "#1010"  # an order of seed 5's world that its integration sent to ShipHero with canonical ids
# the forms ShipHero's copy may hold ({id}: the Shopify order id); each test leaves only this copy
DRIFT_FORMS = {
    # found by an exact search of one variant (even under another email)
    "number without #": {"order_number": "1010", "partner_order_id": "310555001", "email": "else@example.com"},
    "number with #": {"order_number": "#1010", "partner_order_id": "310555001", "email": "else@example.com"},
    "partner as gid": {"partner_order_id": "gid://shopify/Order/{id}", "order_number": "SO-1",
                       "email": "else@example.com"},
    "partner bare": {"partner_order_id": "{id}", "order_number": "SO-1", "email": "else@example.com"},
    # found by the customer sweep, comparing normalised ids
    "gid in another case": {"partner_order_id": "GID://Shopify/ORDER/{id}", "order_number": "SO-1"},
    "zero-padded number": {"order_number": "#0001010", "partner_order_id": "310555001"},
    "padded with white space": {"partner_order_id": " {id} ", "order_number": " 1010\t"},
}


def _order_id(world: World, name: str = ORDER_NAME) -> int:
    return next(o.id for o in world.shopify_orders if o.name == name)


@pytest.mark.parametrize("form", list(DRIFT_FORMS))
def test_order_create_finds_an_order_stored_with_drifted_ids_and_sends_nothing(served, form):
    world = served.world
    order_id = _order_id(world)
    drift = {k: v.replace("{id}", str(order_id)) for k, v in DRIFT_FORMS[form].items()}
    stored = _only_drifted_copy(world, order_id, **drift)
    orders = len(world.shiphero_orders)

    outcome = served.apply(make_action("shiphero", "order_create", _create_payload(world, order_id),
                                       object_id=str(order_id)))

    assert outcome.status == "skipped", outcome
    assert stored.id in outcome.detail and "ShipHero already has order" in outcome.detail
    assert repr(stored.partner_order_id) in outcome.detail and repr(stored.order_number) in outcome.detail
    assert served.received("shiphero:") == 0, "no mutation reached ShipHero"
    assert len(world.shiphero_orders) == orders


def test_order_create_still_creates_an_order_shiphero_lacks(served):
    world = served.world
    order_id = _order_id(world)
    stored = _only_drifted_copy(world, order_id)
    world.shiphero_orders.remove(stored.id)
    orders = len(world.shiphero_orders)
    payload = _create_payload(world, order_id)

    outcome = served.apply(make_action("shiphero", "order_create", payload, object_id=str(order_id)))

    assert outcome.status == "applied", outcome
    assert served.applied("shiphero:order_create") == 1 and len(world.shiphero_orders) == orders + 1
    # and a second attempt finds what the first created
    again = served.apply(make_action("shiphero", "order_create", payload, object_id=str(order_id)))
    assert again.status == "skipped" and served.received("shiphero:order_create") == 1


# ------------------------------------------------------------------------------------ 2. inventory
def _shiphero_location(world: World) -> int:
    return next(loc.id for loc in world.shopify_locations if loc.fulfillment_service_handle == "shiphero")


def _inventory_gap(world: World, sku: str, offset: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Break ShipHero's stock sync for `sku` by `offset` and plan the correction as dbt would: payload and
    before_state (what Shopify's available was when the plan was made)."""
    location = _shiphero_location(world)
    item_id = world.inventory_item_by_sku[sku]
    world.inventory_offsets[sku] = offset
    lifecycle.sync_inventory(world, sku)
    level = world.shopify_inventory_levels[(item_id, location)]
    shiphero = world.shiphero_products.get(sku).available
    assert level.available == shiphero + offset
    payload = {"sku": sku, "inventory_item_id": str(item_id), "location_id": str(location),
               "shiphero_available": shiphero, "shopify_available": level.available, "quantity": shiphero}
    return payload, {"available": level.available}


def _level(world: World, sku: str):
    return world.shopify_inventory_levels[(world.inventory_item_by_sku[sku], _shiphero_location(world))]


SKU = "MCT-BLA-S"


def test_inventory_is_skipped_when_shopify_moved_on_since_the_plan(served):
    world = served.world
    payload, before = _inventory_gap(world, SKU, offset=5)
    level = _level(world, SKU)
    level.available -= 2  # a sale in Shopify after the plan (ShipHero has not seen it yet)
    level.on_hand -= 2
    world.changed()
    now = level.available

    outcome = served.apply(make_action("shopify", "inventory_set_available", payload, before=before, sku=SKU))

    assert outcome.status == "skipped", outcome
    assert SKU in outcome.detail and payload["location_id"] in outcome.detail
    assert f"the plan saw {before['available']}" in outcome.detail and f"available {now} now" in outcome.detail
    assert served.received("shopify:") == 0, "nothing was sent to Shopify"
    assert level.available == now, "Shopify's newer value was not overwritten"


def test_inventory_writes_with_compare_and_set_when_unchanged(served):
    world = served.world
    payload, before = _inventory_gap(world, SKU, offset=5)

    outcome = served.apply(make_action("shopify", "inventory_set_available", payload, before=before, sku=SKU))

    assert outcome.status == "applied", outcome
    assert served.applied("shopify:inventorySetQuantities") == 1
    assert _level(world, SKU).available == world.shiphero_products.get(SKU).available


def test_inventory_compare_and_set_refusal_ends_as_a_skip(served):
    """Shopify moves between the writer's read and its write: Shopify refuses the compareQuantity, and the
    action ends skipped with the reason, after one mutation and no retry."""
    world = served.world
    payload, before = _inventory_gap(world, SKU, offset=5)
    level = _level(world, SKU)

    def sale_just_before_the_write(request: httpx.Request) -> None:
        if b"inventorySetQuantities" in request.content:
            level.available -= 1
            level.on_hand -= 1
            world.changed()

    outcome = served.apply(make_action("shopify", "inventory_set_available", payload, before=before, sku=SKU),
                           on_request=sale_just_before_the_write)

    assert outcome.status == "skipped", outcome
    assert "refused the compare-and-set" in outcome.detail and SKU in outcome.detail
    assert served.received("shopify:inventorySetQuantities") == 1
    assert served.applied("shopify:") == 0
    assert level.available == before["available"] - 1


def test_inventory_follows_shiphero_when_only_its_sync_moved_shopify(served):
    """This push's own ShipHero corrections move ShipHero's stock, and ShipHero's sync copies the move to
    Shopify: that is not a Shopify sale, the plan's gap still stands and the write takes ShipHero's live
    available."""
    world = served.world
    payload, before = _inventory_gap(world, SKU, offset=5)
    lifecycle.adjust_stock(world, SKU, allocated=3)  # an order created in ShipHero allocates 3
    assert _level(world, SKU).available == before["available"] - 3

    outcome = served.apply(make_action("shopify", "inventory_set_available", payload, before=before, sku=SKU))

    assert outcome.status == "applied", outcome
    assert _level(world, SKU).available == world.shiphero_products.get(SKU).available == payload["quantity"] - 3


# ------------------------------------------------------------------------------- 3. moved on: ShipHero
def _shiphero_order(world: World, status: str) -> ShipHeroOrder:
    return next(sh for sh in world.shiphero_orders.sorted_by("legacy_id") if sh.fulfillment_status == status
                and sh.line_items)


def _update(name: str, sh: ShipHeroOrder) -> Action:
    payloads = {
        "order_update_shipping_address": {"shipping_address": {"first_name": "New", "last_name": "Name",
                                                               "address1": "9 Elsewhere Rd", "address2": None,
                                                               "city": "Y", "state_code": "NY", "zip": "99999",
                                                               "country_code": "US"}},
        "order_update_shipping_lines": {"shipping_lines": {"title": "Overnight", "method": "overnight-xyz",
                                                           "price": "30.00"}},
        "order_update_line_items": {"shopify_items": {"NEW-SKU": 1}, "line_items": [
            {"sku": "NEW-SKU", "partner_line_item_id": "1", "quantity": 1, "price": "1.00"}]},
        "order_update_holds": {"payment_hold": True},
        "order_cancel": {"reason": "customer"},
    }
    return make_action("shiphero", name, {"order_id": sh.id, **payloads[name]}, object_id=sh.id)


UPDATES = ["order_update_shipping_address", "order_update_shipping_lines", "order_update_line_items",
           "order_update_holds"]


@pytest.mark.parametrize("name", UPDATES)
@pytest.mark.parametrize("status", ["fulfilled", "canceled"])
def test_shiphero_update_is_skipped_when_the_order_moved_on(served, name, status):
    world = served.world
    sh = _shiphero_order(world, status)
    snapshot = repr(sh)

    outcome = served.apply(_update(name, sh))

    assert outcome.status == "skipped", outcome
    assert sh.id in outcome.detail and f"fulfillment_status {status}" in outcome.detail
    assert ("has shipped" if status == "fulfilled" else "is cancelled") in outcome.detail
    assert served.received("shiphero:") == 0 and repr(sh) == snapshot


def test_shiphero_cancel_is_skipped_when_the_order_has_shipped(served):
    sh = _shiphero_order(served.world, "fulfilled")
    outcome = served.apply(_update("order_cancel", sh))
    assert outcome.status == "skipped" and "has shipped" in outcome.detail and sh.id in outcome.detail
    assert served.received("shiphero:") == 0 and sh.fulfillment_status == "fulfilled"


def test_shiphero_update_of_an_open_order_is_still_written(served):
    sh = _shiphero_order(served.world, "pending")
    outcome = served.apply(_update("order_update_shipping_address", sh))
    assert outcome.status == "applied", outcome
    assert served.applied("shiphero:order_update") == 1 and sh.shipping_address.address1 == "9 Elsewhere Rd"
    # read again: it now agrees
    again = served.apply(_update("order_update_shipping_address", sh))
    assert again.status == "skipped" and "already matches" in again.detail
    assert served.received("shiphero:") == 1


# --------------------------------------------------------------------------- 3. moved on: Stripe, PayPal
def test_stripe_shipping_is_skipped_on_a_charge_refunded_since_the_plan(served):
    world = served.world
    charge = next(c for c in world.stripe_charges.sorted_by("id") if c.captured and not c.refunded
                  and c.status == "succeeded")
    charge.amount_refunded = charge.amount_captured  # refunded in full in the Stripe dashboard
    world.changed()
    shipping = repr(charge.shipping)
    action = make_action("stripe", "charge_update_shipping",
                         {"charge_id": charge.id, "tracking_numbers": ["1ZNEW0000000000001"], "carrier": "UPS",
                          "shipping_name": "A B", "shipping_address": {"line1": "1 Main St"}}, object_id=charge.id)

    outcome = served.apply(action)

    assert outcome.status == "skipped", outcome
    assert charge.id in outcome.detail and "fully refunded" in outcome.detail
    assert served.received("stripe:") == 0 and repr(charge.shipping) == shipping


def test_paypal_tracker_is_skipped_on_a_capture_refunded_since_the_plan(served):
    world = served.world
    capture = next(c for c in world.paypal_captures.sorted_by("id") if c.status == "COMPLETED")
    capture.status = "REFUNDED"
    world.changed()
    trackers = len(world.paypal_trackers)
    action = make_action("paypal", "tracker_add", {"capture_id": capture.id, "tracking_number": "1ZNEW0000000000002",
                                                   "carrier": "UPS", "status": "SHIPPED"}, object_id=capture.id)

    outcome = served.apply(action)

    assert outcome.status == "skipped", outcome
    assert capture.id in outcome.detail and "REFUNDED" in outcome.detail
    assert served.received("paypal:") == 0 and len(world.paypal_trackers) == trackers


def test_paypal_tracker_on_a_live_capture_is_still_sent(served):
    world = served.world
    capture = next(c for c in world.paypal_captures.sorted_by("id") if c.status == "COMPLETED")
    action = make_action("paypal", "tracker_add", {"capture_id": capture.id, "tracking_number": "1ZNEW0000000000003",
                                                   "carrier": "UPS", "status": "SHIPPED"}, object_id=capture.id)
    outcome = served.apply(action)
    assert outcome.status == "applied", outcome
    assert served.applied("paypal:") == 1
