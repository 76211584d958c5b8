"""The ground truth, code by code: for each SPEC.md code a tiny hand-built world in which exactly that
code holds, read back over HTTP from /_sandbox/truth. Also: clean orders (with ID drift) carry no code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipshape_sandbox import lifecycle as lc
from shipshape_sandbox.generate import build_catalog
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.truth import ORDER_CODES, compute_truth
from shipshape_sandbox.world import Address, ShopifyOrder, World

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
HOME = Address("Ava", "Nguyen", "12 Oak Avenue", "Apt 4", "Portland", "Oregon", "OR", "97201",
               "United States", "US")


def new_world() -> World:
    world = World(clock=T0, seed=3)
    build_catalog(world, 3, expected_units_per_sku=10)
    world.catalog = list(world.shopify_inventory_items)
    world.shipping_method_map = {code: method for code, (_, method) in lc.SHIPPING_METHODS.items()}
    return world


def later(world: World, **delta: float) -> None:
    world.clock += timedelta(**delta)


def place(world: World, *, code: str = "STANDARD") -> ShopifyOrder:
    items = [(world.catalog[0], 2, 3800), (world.catalog[7], 1, 1600)]
    return lc.place_order(world, address=HOME, email="ava@example.com", currency="USD", items=items,
                          shipping_code=code, shipping_price=695)


def paid_and_sent(world: World, gateway: str = "stripe") -> ShopifyOrder:
    order = place(world)
    if gateway == "stripe":
        lc.pay_with_stripe(world, order)
    else:
        lc.pay_with_paypal(world, order)
    later(world, minutes=10)
    lc.send_to_3pl(world, order)
    later(world, minutes=20)
    return order


def deliver(world: World, order: ShopifyOrder, status: str = "delivered") -> None:
    later(world, hours=30)
    for shipment in world.shipments_by_order[lc.shiphero_order_for(world, order).id]:
        lc.tracker_update(world, shipment.labels[0].tracking_number, status)
    later(world, hours=1)


# Each scenario builds its world and returns the order that should carry the code (None: payment or SKU grain).
def missing_in_3pl(world):
    order = place(world)
    lc.pay_with_stripe(world, order)
    later(world, hours=2)
    return order


def address_mismatch(world):
    order = paid_and_sent(world)
    lc.edit_address(world, order, Address("Ava", "Nguyen", "99 Elm Rd", None, "Portland", "Oregon", "OR",
                                          "97209", "United States", "US"), propagate=False)
    return order


def line_items_mismatch(world):
    order = paid_and_sent(world)
    line = order.line_items[0]
    lc.edit_quantity(world, order, line.id, 1, propagate=False)
    lc.refund_order(world, order, line.unit_price)
    return order


def shipping_method_mismatch(world):
    order = paid_and_sent(world)
    lc.change_shipping_method(world, order, "EXPRESS", propagate=False)
    return order


def cancelled_not_in_3pl(world):
    order = paid_and_sent(world)
    lc.cancel_order(world, order, propagate=False)
    return order


def cancelled_but_shipped(world):
    order = paid_and_sent(world)
    later(world, hours=8)
    lc.ship(world, order)
    later(world, hours=2)
    lc.cancel_order(world, order)
    return order


def unpaid_not_held(world):
    order = place(world)
    lc.pay_with_stripe(world, order, fail=True)
    later(world, minutes=10)
    lc.send_to_3pl(world, order)
    return order


def shipped_unpaid(world):
    order = unpaid_not_held(world)
    later(world, hours=8)
    lc.ship(world, order)
    return order


def shipped_after_refund(world):
    order = paid_and_sent(world)
    lc.refund_order(world, order, order.received())
    later(world, hours=3)
    lc.ship(world, order)
    return order


def amount_mismatch(world):
    order = place(world)
    lc.pay_with_stripe(world, order, amount=order.total() - 500)
    later(world, minutes=10)
    lc.send_to_3pl(world, order)
    return order


def amount_mismatch_currency(world):
    order = place(world)
    lc.pay_with_stripe(world, order, currency="EUR")
    later(world, minutes=10)
    lc.send_to_3pl(world, order)
    return order


def payment_missing(world):
    order = place(world)
    lc.shopify_transaction(world, order, "SALE", order.total(), gateway="stripe", reference="pi_3NotInThisAccount")
    return order


def duplicate_capture(world):
    order = place(world)
    lc.pay_with_stripe(world, order)
    lc.pay_with_stripe(world, order)
    later(world, minutes=10)
    lc.send_to_3pl(world, order)
    return order


def tracking_missing_in_paypal(world):
    order = paid_and_sent(world, "paypal")
    later(world, hours=8)
    lc.ship(world, order, sync_paypal=False)
    return order


def tracking_missing_in_stripe(world):
    order = paid_and_sent(world)
    later(world, hours=8)
    lc.ship(world, order, sync_stripe=False)
    return order


def tracking_missing_in_shopify(world):
    order = paid_and_sent(world)
    later(world, hours=8)
    lc.ship(world, order, sync_shopify=False)
    return order


def delivered_not_fulfilled(world):
    order = paid_and_sent(world)
    later(world, hours=8)
    first = order.line_items[0]
    lc.ship(world, order, shopify_line_items=[(first.id, first.quantity)])
    deliver(world, order)
    return order


def fulfilled_without_shipment(world):
    order = paid_and_sent(world)
    lc.shopify_fulfill(world, order, [])
    return order


def stalled_fulfillment(world):
    order = paid_and_sent(world)
    later(world, hours=73)
    return order


def delivery_exception(world):
    order = paid_and_sent(world)
    later(world, hours=8)
    lc.ship(world, order)
    deliver(world, order, "return_to_sender")
    return order


SCENARIOS: dict[str, Callable[[World], ShopifyOrder]] = {
    "MISSING_IN_3PL": missing_in_3pl,
    "ADDRESS_MISMATCH": address_mismatch,
    "LINE_ITEMS_MISMATCH": line_items_mismatch,
    "SHIPPING_METHOD_MISMATCH": shipping_method_mismatch,
    "CANCELLED_NOT_IN_3PL": cancelled_not_in_3pl,
    "CANCELLED_BUT_SHIPPED": cancelled_but_shipped,
    "UNPAID_NOT_HELD": unpaid_not_held,
    "SHIPPED_UNPAID": shipped_unpaid,
    "SHIPPED_AFTER_REFUND": shipped_after_refund,
    "AMOUNT_MISMATCH": amount_mismatch,
    "PAYMENT_MISSING": payment_missing,
    "DUPLICATE_CAPTURE": duplicate_capture,
    "TRACKING_MISSING_IN_PAYPAL": tracking_missing_in_paypal,
    "TRACKING_MISSING_IN_STRIPE": tracking_missing_in_stripe,
    "TRACKING_MISSING_IN_SHOPIFY": tracking_missing_in_shopify,
    "DELIVERED_NOT_FULFILLED": delivered_not_fulfilled,
    "FULFILLED_WITHOUT_SHIPMENT": fulfilled_without_shipment,
    "STALLED_FULFILLMENT": stalled_fulfillment,
    "DELIVERY_EXCEPTION": delivery_exception,
}


def served_truth(world: World) -> dict:
    sandbox = Sandbox(world)
    with running(sandbox, apis=()) as base:
        response = httpx.get(f"{base}/_sandbox/truth", timeout=30)
    response.raise_for_status()
    return response.json()


def test_every_order_code_has_a_scenario():
    assert set(SCENARIOS) == set(ORDER_CODES)


@pytest.mark.parametrize("code", list(SCENARIOS))
def test_exactly_this_code_holds(code):
    world = new_world()
    bystander = paid_and_sent(world)  # a clean, delivered order beside it, which must stay clean
    lc.ship(world, bystander)
    deliver(world, bystander)
    order = SCENARIOS[code](world)
    truth = served_truth(world)
    codes = {o["order_id"]: o["codes"] for o in truth["orders"]}
    assert codes[order.id] == [code]
    assert codes[bystander.id] == []
    assert truth["orphan_payments"] == []
    assert truth["inventory_mismatches"] == []


def test_amount_mismatch_on_currency_alone():
    world = new_world()
    order = amount_mismatch_currency(world)
    assert compute_truth(world)["orders"][0] == {"order_id": order.id, "name": order.name, "codes": ["AMOUNT_MISMATCH"]}


def test_orphan_payment_is_reported_at_payment_grain():
    world = new_world()
    paid_and_sent(world)
    outside = ShopifyOrder(id=0, name="#PL1", created_at=world.clock, updated_at=world.clock, currency="USD",
                           email="", shipping_address=HOME, shipping_line=None, line_items=[])
    pi = lc.pay_with_stripe(world, outside, amount=4999, metadata_order_id="PL-00001", record_in_shopify=False)
    declined = lc.pay_with_paypal(world, outside, amount=1999, invoice_id="PL-2", record_in_shopify=False, fail=True)
    truth = served_truth(world)
    assert truth["orphan_payments"] == [{"gateway": "stripe", "payment_id": pi.id}]
    assert declined.id not in str(truth["orphan_payments"])  # not successful, so not an orphan payment
    assert all(o["codes"] == [] for o in truth["orders"])


def test_inventory_mismatch_at_sku_grain_and_its_correction():
    world = new_world()
    sku = world.catalog[3].sku
    world.inventory_offsets[sku] = 3
    lc.sync_inventory(world, sku)
    product = world.shiphero_products.get(sku)
    truth = served_truth(world)
    assert truth["inventory_mismatches"] == [
        {"sku": sku, "shopify_available": product.available + 3, "shiphero_available": product.available}
    ]
    # The correction sets Shopify's available quantity at the ShipHero location: the truth follows.
    location = next(loc for loc in world.shopify_locations if loc.fulfillment_service_handle == "shiphero")
    lc.set_shopify_available(world, world.catalog[3].id, location.id, product.available)
    assert compute_truth(world)["inventory_mismatches"] == []


def test_clean_order_stays_clean_through_its_life_with_id_drift():
    world = new_world()
    order = place(world)
    lc.pay_with_stripe(world, order, metadata_order_id=order.name, record_reference=None)  # linked by metadata
    other = place(world)
    capture = lc.pay_with_paypal(world, other, invoice_id="0" + other.name.lstrip("#"), record_reference=None)
    later(world, minutes=10)
    lc.send_to_3pl(world, order, partner_order_id=order.gid, order_number=order.name.lstrip("#"))
    lc.send_to_3pl(world, other, partner_order_id=" " + str(other.id))
    other.transactions[-1].reference = capture.id.lower()
    for checkpoint in range(4):
        assert [o["codes"] for o in compute_truth(world)["orders"]] == [[], []], checkpoint
        if checkpoint == 0:
            later(world, hours=20)
            lc.ship(world, order)
            lc.ship(world, other)
        elif checkpoint == 1:
            deliver(world, order)
            deliver(world, other)
        elif checkpoint == 2:
            lc.refund_order(world, order, 1000)


def test_a_correction_through_the_world_clears_the_code():
    world = new_world()
    order = tracking_missing_in_paypal(world)
    assert compute_truth(world)["orders"][0]["codes"] == ["TRACKING_MISSING_IN_PAYPAL"]
    capture = lc.linked_paypal_captures(world, order)[0]
    label = world.shipments_by_order[lc.shiphero_order_for(world, order).id][0].labels[0]
    lc.add_paypal_tracker(world, capture, label.carrier, label.tracking_number)
    assert compute_truth(world)["orders"][0]["codes"] == []
