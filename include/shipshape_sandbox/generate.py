"""The seeded merchant world: a catalog, customers in several countries, and orders that live their lives
(paid, sent to the 3PL, shipped in one or more parcels, tracked, refunded, edited, cancelled) through the
world's event queue, with deliberate disagreements injected at configurable rates.

Same seed, same world: every order draws from its own random stream, seeded by (seed, order number), so
an order is the same whether it was generated at start-up or arrived later through `advance`.
"""

from __future__ import annotations

import gc
import logging
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from shipshape_sandbox import lifecycle as lc
from shipshape_sandbox.lifecycle import action
from shipshape_sandbox.world import (
    Address,
    ShipHeroWarehouseProduct,
    ShopifyInventoryItem,
    ShopifyInventoryLevel,
    ShopifyLocation,
    ShopifyOrder,
    World,
)

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# Relative weights of the disagreements the generator injects into an unlucky order: one per order code of
# the product's definition (shipshape.codes; tests/test_mismatch_codes.py checks), each injected below.
INJECTED_CODES: dict[str, float] = {
    "MISSING_IN_3PL": 6,
    "ADDRESS_MISMATCH": 8,
    "LINE_ITEMS_MISMATCH": 5,
    "SHIPPING_METHOD_MISMATCH": 4,
    "CANCELLED_NOT_IN_3PL": 5,
    "CANCELLED_BUT_SHIPPED": 3,
    "UNPAID_NOT_HELD": 4,
    "SHIPPED_UNPAID": 3,
    "SHIPPED_AFTER_REFUND": 3,
    "AMOUNT_MISMATCH": 6,
    "PAYMENT_MISSING": 3,
    "DUPLICATE_CAPTURE": 3,
    "TRACKING_MISSING_IN_PAYPAL": 8,
    "TRACKING_MISSING_IN_STRIPE": 6,
    "TRACKING_MISSING_IN_SHOPIFY": 6,
    "DELIVERED_NOT_FULFILLED": 4,
    "FULFILLED_WITHOUT_SHIPMENT": 3,
    "STALLED_FULFILLMENT": 5,
    "DELIVERY_EXCEPTION": 5,
}


@dataclass
class WorldConfig:
    orders: int = 1000
    seed: int = 0
    start: datetime = DEFAULT_START  # the world's clock once built
    history_days: float = 30.0  # initial orders are spread over this many days before `start`
    mismatch_rate: float = 0.07  # share of orders given an injected disagreement
    double_fault_rate: float = 0.1  # of those, the share given a second one
    orphan_rate: float = 0.004  # gateway payments per order that match no order
    inventory_mismatch_rate: float = 0.04  # share of SKUs whose stock sync is broken
    codes: dict[str, float] = field(default_factory=lambda: dict(INJECTED_CODES))

    @property
    def orders_per_hour(self) -> float:
        return self.orders / (self.history_days * 24)


# --------------------------------------------------------------------------------------------- catalog
PRODUCTS = [
    ("MCT", "Merino Crew Tee", 3800, ["Black", "White", "Navy", "Olive"], ["S", "M", "L", "XL"]),
    ("TRL", "Trail Runner Sock", 1600, ["Grey", "Black"], ["S", "M", "L"]),
    ("CHN", "Everyday Chino", 7800, ["Khaki", "Navy", "Stone"], ["30", "32", "34", "36"]),
    ("HDY", "Heavyweight Hoodie", 8900, ["Black", "Heather", "Forest"], ["S", "M", "L", "XL"]),
    ("BEN", "Ribbed Beanie", 2400, ["Black", "Rust", "Cream"], ["OS"]),
    ("TOT", "Canvas Tote", 2900, ["Natural", "Black"], ["OS"]),
    ("PKR", "Packable Rain Jacket", 12900, ["Yellow", "Navy"], ["S", "M", "L", "XL"]),
    ("BTL", "Insulated Bottle 750ml", 3400, ["Steel", "Sage", "Coral"], ["OS"]),
    ("CAP", "Six-Panel Cap", 2800, ["Navy", "Tan"], ["OS"]),
    ("LNG", "Lounge Jogger", 6400, ["Charcoal", "Oat"], ["S", "M", "L", "XL"]),
    ("WLT", "Leather Card Wallet", 4500, ["Brown", "Black"], ["OS"]),
    ("FLN", "Flannel Overshirt", 9200, ["Red Check", "Blue Check"], ["S", "M", "L", "XL"]),
]

# (country code, country, currency, price factor, [(city, province, province code, zip pattern)])
COUNTRIES = [
    ("US", "United States", "USD", 1.0, [
        ("Portland", "Oregon", "OR", "972##"), ("Austin", "Texas", "TX", "787##"),
        ("Brooklyn", "New York", "NY", "112##"), ("Denver", "Colorado", "CO", "802##"),
        ("Chicago", "Illinois", "IL", "606##"), ("Oakland", "California", "CA", "946##"),
    ]),
    ("CA", "Canada", "CAD", 1.35, [
        ("Toronto", "Ontario", "ON", "M5V #A#"), ("Vancouver", "British Columbia", "BC", "V6B #C#"),
        ("Montréal", "Quebec", "QC", "H2X #B#"),
    ]),
    ("GB", "United Kingdom", "GBP", 0.8, [
        ("London", "England", "ENG", "SW1A #AA"), ("Manchester", "England", "ENG", "M1 #AE"),
        ("Edinburgh", "Scotland", "SCT", "EH1 #QS"),
    ]),
    ("DE", "Germany", "EUR", 0.93, [
        ("Berlin", "Berlin", "BE", "101##"), ("München", "Bavaria", "BY", "803##"),
    ]),
    ("FR", "France", "EUR", 0.93, [("Paris", "Île-de-France", "IDF", "750##"), ("Lyon", None, None, "690##")]),
    ("AU", "Australia", "AUD", 1.5, [
        ("Sydney", "New South Wales", "NSW", "20##"), ("Melbourne", "Victoria", "VIC", "30##"),
    ]),
]
COUNTRY_WEIGHTS = list(accumulate([62, 9, 11, 7, 5, 6]))  # cumulative: random.choices(cum_weights=)
FIRST = ["Ava", "Liam", "Noah", "Mia", "Zoë", "Lucas", "Amara", "Kenji", "Sofia", "Mateo", "Priya", "Oliver",
         "Chloé", "Aarav", "Freya", "Jonas", "Leila", "Owen", "Ines", "Tariq", "Hannah", "Diego", "Mei", "Finn"]
LAST = ["Nguyen", "Smith", "O'Brien", "García", "Müller", "Okafor", "Rossi", "Kowalski", "Tanaka", "Dubois",
        "Patel", "Johansson", "Silva", "Cohen", "MacLeod", "Haddad", "Novak", "Fischer", "Brown", "Lee"]
STREETS = ["Main St", "Oak Avenue", "High Street", "Rue de Rivoli", "Hauptstraße", "King St W", "Elm Rd",
           "Market St", "Station Road", "Maple Drive", "Queen Street", "Harbour Rd"]
DOMESTIC_METHODS = [("STANDARD", 695), ("ECONOMY", 0), ("EXPRESS", 1495), ("OVERNIGHT", 2995), ("Courier", 1200)]
DOMESTIC_METHOD_WEIGHTS = list(accumulate([60, 14, 16, 5, 5]))
LINE_COUNT_WEIGHTS = list(accumulate([55, 28, 12, 5]))
QUANTITY_WEIGHTS = list(accumulate([78, 17, 5]))
GATEWAY_WEIGHTS = list(accumulate([68, 30, 2]))
REFUND_WEIGHTS = list(accumulate([92, 6, 2]))


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)


def random_address(rng: random.Random) -> tuple[Address, str, float]:
    code, country, currency, factor, cities = rng.choices(COUNTRIES, cum_weights=COUNTRY_WEIGHTS)[0]
    city, province, province_code, zip_pattern = rng.choice(cities)
    address = Address(
        first_name=rng.choice(FIRST),
        last_name=rng.choice(LAST),
        address1=f"{rng.randint(1, 2400)} {rng.choice(STREETS)}",
        address2=rng.choice([None, None, None, f"Apt {rng.randint(1, 40)}", f"Suite {rng.randint(100, 900)}"]),
        city=city,
        province=province,
        province_code=province_code,
        zip=_digits(rng, zip_pattern),
        country=country,
        country_code=code,
        phone=f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}" if code in ("US", "CA") else None,
    )
    return address, currency, factor


def build_catalog(world: World, seed: int, expected_units_per_sku: float) -> None:
    rng = random.Random(f"{seed}:catalog")
    warehouse_location = ShopifyLocation(id=71_000_000_001, name="ShipHero Warehouse (Reno)",
                                         fulfillment_service_handle="shiphero")
    store = ShopifyLocation(id=71_000_000_002, name="Flagship Store", fulfillment_service_handle=None)
    world.shopify_locations.add(warehouse_location)
    world.shopify_locations.add(store)
    for p_index, (code, title, price, colors, sizes) in enumerate(PRODUCTS):
        product_id = 8_100_000_000_000 + p_index
        for v_index, (color, size) in enumerate((c, s) for c in colors for s in sizes):
            sku = f"{code}-{color.replace(' ', '')[:3].upper()}-{size}"
            variant_id = 45_000_000_000_000 + p_index * 100 + v_index
            item = ShopifyInventoryItem(
                id=47_000_000_000_000 + p_index * 100 + v_index,
                sku=sku,
                variant_id=variant_id,
                product_id=product_id,
                product_title=title,
                variant_title=f"{color} / {size}" if size != "OS" else color,
                unit_price=price,
                updated_at=world.clock,
            )
            world.shopify_inventory_items.add(item)
            world.inventory_item_by_sku[sku] = item.id
            on_hand = int(expected_units_per_sku * 1.6) + rng.randint(40, 400)
            reserve = rng.choice([0, 0, 0, 2, 5])
            world.shiphero_products.add(ShipHeroWarehouseProduct(
                id=lc.relay_id("WarehouseProduct", 9_000_000 + item.id % 100_000), sku=sku,
                warehouse_id=world.shiphero_warehouse_id, on_hand=on_hand, allocated=0, reserve=reserve,
                backorder=0, updated_at=world.clock,
            ))
            available = on_hand - reserve
            world.shopify_inventory_levels[(item.id, warehouse_location.id)] = ShopifyInventoryLevel(
                item.id, warehouse_location.id, available, on_hand, world.clock)
            store_qty = rng.randint(0, 25)
            world.shopify_inventory_levels[(item.id, store.id)] = ShopifyInventoryLevel(
                item.id, store.id, store_qty, store_qty, world.clock)


# ---------------------------------------------------------------------------------------------- plans
@dataclass
class OrderPlan:
    """What will happen to one order; decided when it is placed, carried out by queued events."""

    codes: list[str]
    gateway: str  # stripe | paypal | manual
    capture: bool
    cancel_early: bool = False  # cancelled before it reached the 3PL
    cancel_in_flight: bool = False  # cancelled after the 3PL got it, before shipping (propagated)
    split: bool = False
    refund_after: float | None = None  # fraction refunded after delivery
    edit_address_before_ship: bool = False
    dispute: bool = False
    shipped: int = 0
    numbers: list[str] = field(default_factory=list)


def _rng(seed: int, n: int, label: str = "order") -> random.Random:
    return random.Random(f"{seed}:{label}:{n}")


def choose_codes(rng: random.Random, config: WorldConfig) -> list[str]:
    if rng.random() >= config.mismatch_rate:
        return []
    names, weights = list(config.codes), list(config.codes.values())
    codes = [rng.choices(names, weights)[0]]
    if rng.random() < config.double_fault_rate:
        second = rng.choices(names, weights)[0]
        if second != codes[0] and _compatible(codes[0], second):
            codes.append(second)
    return codes


_NEEDS_NO_SHIP = {"ADDRESS_MISMATCH", "LINE_ITEMS_MISMATCH", "SHIPPING_METHOD_MISMATCH", "CANCELLED_NOT_IN_3PL",
                  "UNPAID_NOT_HELD", "FULFILLED_WITHOUT_SHIPMENT", "STALLED_FULFILLMENT", "MISSING_IN_3PL"}
_NEEDS_SHIP = {"CANCELLED_BUT_SHIPPED", "SHIPPED_UNPAID", "SHIPPED_AFTER_REFUND", "TRACKING_MISSING_IN_PAYPAL",
               "TRACKING_MISSING_IN_STRIPE", "TRACKING_MISSING_IN_SHOPIFY", "DELIVERED_NOT_FULFILLED",
               "DELIVERY_EXCEPTION"}
_PAYMENT = {"UNPAID_NOT_HELD", "SHIPPED_UNPAID", "SHIPPED_AFTER_REFUND", "AMOUNT_MISMATCH", "PAYMENT_MISSING",
            "DUPLICATE_CAPTURE", "TRACKING_MISSING_IN_PAYPAL", "TRACKING_MISSING_IN_STRIPE", "CANCELLED_NOT_IN_3PL",
            "CANCELLED_BUT_SHIPPED"}


def _compatible(a: str, b: str) -> bool:
    pair = {a, b}
    if pair & _NEEDS_NO_SHIP and pair & _NEEDS_SHIP:
        return False
    return not (a in _PAYMENT and b in _PAYMENT)


# ------------------------------------------------------------------------------------------- events
@action
def g_place(world: World, n: int) -> None:
    """Order number `n` is placed now: customer, items, payment, and its future queued."""
    config: WorldConfig = world.config
    rng = _rng(world.seed, n)
    codes = choose_codes(rng, config)
    address, currency, factor = random_address(rng)
    domestic = address.country_code == "US"
    n_lines = rng.choices((1, 2, 3, 4), cum_weights=LINE_COUNT_WEIGHTS)[0]
    if "DELIVERED_NOT_FULFILLED" in codes or "LINE_ITEMS_MISMATCH" in codes:
        n_lines = max(n_lines, 2)
    chosen = rng.sample(world.catalog, n_lines)
    items = [(item, rng.choices((1, 2, 3), cum_weights=QUANTITY_WEIGHTS)[0], _price(item.unit_price, factor))
             for item in chosen]
    if domestic:
        code, price = rng.choices(DOMESTIC_METHODS, cum_weights=DOMESTIC_METHOD_WEIGHTS)[0]
    else:
        code, price = "INTERNATIONAL", _price(1995, factor)
    email = f"{address.first_name.lower()}.{address.last_name.lower().replace(chr(39), '')}{n}@example.com"
    order = lc.place_order(world, address=address, email=email, currency=currency, items=items,
                           shipping_code=code, shipping_price=price)

    gateway = rng.choices(("stripe", "paypal", "manual"), cum_weights=GATEWAY_WEIGHTS)[0]
    if codes and set(codes) & {"TRACKING_MISSING_IN_PAYPAL"}:
        gateway = "paypal"
    elif codes and set(codes) & {"TRACKING_MISSING_IN_STRIPE", "DUPLICATE_CAPTURE", "AMOUNT_MISMATCH"}:
        gateway = "stripe"
    elif codes and gateway == "manual":
        gateway = "stripe"
    manual_capture = gateway == "stripe" and not codes and rng.random() < 0.15
    plan = OrderPlan(codes=codes, gateway=gateway, capture=not manual_capture)
    world.plans[order.id] = plan
    plan.split = not codes and n_lines >= 2 and rng.random() < 0.12
    if not codes:
        plan.cancel_early = rng.random() < 0.015
        plan.cancel_in_flight = not plan.cancel_early and rng.random() < 0.015
        plan.edit_address_before_ship = rng.random() < 0.03
        plan.refund_after = rng.choices((None, 0.3, 1.0), cum_weights=REFUND_WEIGHTS)[0]
        plan.dispute = gateway == "stripe" and rng.random() < 0.005

    _pay(world, order, plan, rng)
    t = world.clock
    if gateway == "manual":
        # A bank-transfer order that is never paid: the merchant cancels it after a week.
        world.schedule(t + timedelta(days=7), "g_cancel", order.id, True)
        return
    if plan.cancel_early:
        world.schedule(t + timedelta(minutes=rng.uniform(1, 4)), "g_cancel", order.id, True)
        return
    send_at = t + timedelta(minutes=rng.uniform(5, 45))
    if "MISSING_IN_3PL" not in codes:
        world.schedule(send_at, "g_send", order.id)
    ship_at = send_at + timedelta(hours=rng.uniform(6, 50))
    if plan.cancel_in_flight:
        world.schedule(send_at + timedelta(hours=rng.uniform(0.5, 4)), "g_cancel", order.id, True)
        return
    if plan.edit_address_before_ship:
        moved, _, _ = random_address(rng)
        world.schedule(send_at + timedelta(minutes=rng.uniform(10, 120)), "g_edit_address", order.id,
                       replace(moved, first_name=address.first_name, last_name=address.last_name,
                               country_code=address.country_code, country=address.country), True)
    in_flight = send_at + timedelta(minutes=rng.uniform(10, 300))
    for code in codes:
        _schedule_injection(world, order, plan, code, rng, send_at, in_flight, ship_at)
    if not set(codes) & _NEEDS_NO_SHIP:
        world.schedule(ship_at, "g_ship", order.id, 0)
        if plan.split:
            world.schedule(ship_at + timedelta(hours=rng.uniform(1, 10)), "g_ship", order.id, 1)


def _price(usd_cents: int, factor: float) -> int:
    if factor == 1.0:
        return usd_cents
    return max(99, int(usd_cents * factor / 100) * 100 + 99)  # local prices end in .99


def _pay(world: World, order, plan: OrderPlan, rng: random.Random) -> None:
    codes = plan.codes
    fail = "UNPAID_NOT_HELD" in codes or "SHIPPED_UNPAID" in codes
    drift = rng.random()
    if plan.gateway == "manual":
        return
    if "PAYMENT_MISSING" in codes:
        # Shopify recorded a payment whose gateway record never reached this Stripe account.
        ghost = "pi_3Ghost" + lc._token(world, f"ghost{order.id}", 20)
        lc.shopify_transaction(world, order, "SALE", order.total(), gateway="stripe", reference=ghost)
        return
    if plan.gateway == "stripe":
        metadata = None
        reference: str | bool | None = True
        if drift < 0.08:
            metadata = order.name  # the checkout app wrote the order name, not the id
        elif drift < 0.12:
            metadata = order.gid
        elif drift < 0.15:
            reference = None  # no gateway reference on the Shopify transaction: the fallback must link it
        amount, currency = None, None
        if "AMOUNT_MISMATCH" in codes:
            variant = rng.random()
            if variant < 0.5:
                short = rng.randint(100, 2500)
                # a cheap order is charged half instead: a PaymentIntent's amount is never below 1
                amount = order.total() - short if short < order.total() else max(1, order.total() // 2)
            elif variant < 0.75 and order.currency != "USD":
                currency = "USD"
        pi = lc.pay_with_stripe(world, order, capture=plan.capture, fail=fail, amount=amount, currency=currency,
                                metadata_order_id=metadata, record_reference=reference)
        if "DUPLICATE_CAPTURE" in codes:
            lc.pay_with_stripe(world, order, capture=True)
        if "AMOUNT_MISMATCH" in codes and amount is None and currency is None:
            # A refund made in the Stripe dashboard that Shopify never heard of.
            world.schedule(world.clock + timedelta(hours=rng.uniform(2, 30)), "g_gateway_refund", order.id)
        if plan.dispute and not fail:
            world.schedule(world.clock + timedelta(days=rng.uniform(3, 20)), "g_dispute", pi.id)
        return
    invoice = None
    reference = True
    if drift < 0.1:
        invoice = order.name.lstrip("#")
    elif drift < 0.15:
        invoice = "#" + order.name.lstrip("#").zfill(7)
    if 0.15 <= drift < 0.25:
        reference = None  # linked through invoice_id
    capture = lc.pay_with_paypal(world, order, fail=fail, invoice_id=invoice, record_reference=reference)
    if reference is True and drift > 0.9:
        # Shopify stored the capture id in lower case.
        order.transactions[-1].reference = capture.id.lower()


def _schedule_injection(world, order, plan, code, rng, send_at, in_flight, ship_at) -> None:
    if code == "ADDRESS_MISMATCH":
        moved, _, _ = random_address(rng)
        world.schedule(in_flight, "g_edit_address", order.id,
                       replace(order.shipping_address, address1=moved.address1, zip=moved.zip), False)
    elif code == "LINE_ITEMS_MISMATCH":
        world.schedule(in_flight, "g_edit_items", order.id)
    elif code == "SHIPPING_METHOD_MISMATCH":
        world.schedule(in_flight, "g_change_method", order.id)
    elif code == "CANCELLED_NOT_IN_3PL":
        world.schedule(in_flight, "g_cancel", order.id, False)
    elif code == "CANCELLED_BUT_SHIPPED":
        world.schedule(ship_at + timedelta(hours=rng.uniform(1, 12)), "g_cancel", order.id, True)
    elif code == "SHIPPED_AFTER_REFUND":
        world.schedule(min(in_flight, ship_at - timedelta(minutes=5)), "g_refund", order.id, 1.0)
    elif code == "FULFILLED_WITHOUT_SHIPMENT":
        world.schedule(in_flight, "g_manual_fulfill", order.id)


@action
def g_send(world: World, order_id: int) -> None:
    order = world.shopify_orders.get(order_id)
    if order.cancelled_at is not None:
        return
    rng = _rng(world.seed, order_id, "send")
    drift = rng.random()
    partner = order.gid if drift < 0.08 else None
    number = order.name.lstrip("#") if 0.08 <= drift < 0.16 else None
    lc.send_to_3pl(world, order, partner_order_id=partner, order_number=number)


@action
def g_ship(world: World, order_id: int, part: int) -> None:
    order = world.shopify_orders.get(order_id)
    plan: OrderPlan = world.plans[order_id]
    sh = lc.shiphero_order_for(world, order)
    if sh is None or sh.fulfillment_status in ("canceled", "fulfilled"):
        return
    if order.cancelled_at is not None and "CANCELLED_BUT_SHIPPED" not in plan.codes:
        return
    rng = _rng(world.seed, order_id, f"ship{part}")
    line_items = None
    if plan.split and part == 0:
        first = sh.line_items[0]
        line_items = [(first.id, first.quantity)]
    shopify_items = None
    if "DELIVERED_NOT_FULFILLED" in plan.codes:
        # Shopify's fulfillment got the tracking number but only the first line.
        li = order.line_items[0]
        shopify_items = [(li.id, li.current_quantity)]
    shipment = lc.ship(
        world, order, line_items=line_items, shopify_line_items=shopify_items,
        sync_shopify="TRACKING_MISSING_IN_SHOPIFY" not in plan.codes,
        sync_stripe="TRACKING_MISSING_IN_STRIPE" not in plan.codes,
        sync_paypal="TRACKING_MISSING_IN_PAYPAL" not in plan.codes,
    )
    plan.shipped += 1
    if plan.capture is False and plan.gateway == "stripe":
        for pi in lc.linked_stripe_intents(world, order):
            if pi.status == "requires_capture":
                lc.capture_stripe(world, order, pi)
    number = shipment.labels[0].tracking_number
    t = world.clock
    in_transit = t + timedelta(hours=rng.uniform(8, 20))
    world.schedule(in_transit, "g_track", number, "in_transit")
    if "DELIVERY_EXCEPTION" in plan.codes:
        world.schedule(in_transit + timedelta(hours=rng.uniform(20, 60)), "g_track", number,
                       rng.choice(["failure", "return_to_sender"]))
        return
    out = in_transit + timedelta(hours=rng.uniform(24, 80))
    if rng.random() < 0.05:
        world.schedule(out, "g_track", number, "available_for_pickup")
    else:
        world.schedule(out, "g_track", number, "out_for_delivery")
    delivered = out + timedelta(hours=rng.uniform(2, 9))
    world.schedule(delivered, "g_track", number, "delivered")
    if plan.refund_after and part == (1 if plan.split else 0):
        world.schedule(delivered + timedelta(days=rng.uniform(1, 6)), "g_refund", order_id, plan.refund_after)


@action
def g_track(world: World, number: str, status: str) -> None:
    lc.tracker_update(world, number, status)


@action
def g_refund(world: World, order_id: int, fraction: float) -> None:
    order = world.shopify_orders.get(order_id)
    outstanding = order.received() - order.refunded()
    amount = outstanding if fraction >= 1 else int(order.received() * fraction)
    if amount > 0 and order.cancelled_at is None:
        lc.refund_order(world, order, amount)


@action
def g_gateway_refund(world: World, order_id: int) -> None:
    order = world.shopify_orders.get(order_id)
    for pi in lc.linked_stripe_intents(world, order):
        charge = world.stripe_charges.get(pi.latest_charge)
        if charge and charge.amount_captured - charge.amount_refunded > 500:
            lc.refund_in_stripe(world, pi, 500)
            return


@action
def g_dispute(world: World, pi_id: str) -> None:
    pi = world.stripe_payment_intents.get(pi_id)
    if pi is not None and pi.status == "succeeded":
        lc.open_dispute(world, pi)


@action
def g_cancel(world: World, order_id: int, propagate: bool) -> None:
    order = world.shopify_orders.get(order_id)
    if order.cancelled_at is None:
        lc.cancel_order(world, order, propagate=propagate)


@action
def g_edit_address(world: World, order_id: int, address: Address, propagate: bool) -> None:
    order = world.shopify_orders.get(order_id)
    if order.cancelled_at is None:
        lc.edit_address(world, order, address, propagate=propagate)


@action
def g_edit_items(world: World, order_id: int) -> None:
    order = world.shopify_orders.get(order_id)
    line = max(order.line_items, key=lambda li: (li.current_quantity, li.id))
    if line.current_quantity >= 2:
        lc.edit_quantity(world, order, line.id, line.current_quantity - 1, propagate=False)
        lc.refund_order(world, order, line.unit_price)
    else:
        # The customer asked for one more; the edit is paid later, so only the quantity changes now.
        lc.edit_quantity(world, order, line.id, line.current_quantity + 1, propagate=False)


@action
def g_change_method(world: World, order_id: int) -> None:
    order = world.shopify_orders.get(order_id)
    current = order.shipping_line.code
    lc.change_shipping_method(world, order, "OVERNIGHT" if current != "OVERNIGHT" else "EXPRESS", propagate=False)


@action
def g_manual_fulfill(world: World, order_id: int) -> None:
    order = world.shopify_orders.get(order_id)
    lc.shopify_fulfill(world, order, [])


@action
def g_orphan(world: World, k: int) -> None:
    """A payment taken outside the store (a payment link, a phone order) that matches no Shopify order."""
    rng = _rng(world.seed, k, "orphan")
    address, currency, _ = random_address(rng)
    amount = rng.randint(15, 300) * 100 + 99
    ghost = ShopifyOrder(  # never stored: only carries the amount and address to the gateway
        id=0, name=f"#PL{k}", created_at=world.clock, updated_at=world.clock, currency=currency,
        email="", shipping_address=address, shipping_line=None, line_items=[])
    if rng.random() < 0.7:
        lc.pay_with_stripe(world, ghost, amount=amount, metadata_order_id=f"PL-{k:05d}", record_in_shopify=False)
    else:
        lc.pay_with_paypal(world, ghost, amount=amount, invoice_id=f"PL-{k:05d}", record_in_shopify=False)
    world.order_payments.pop(0, None)


# ---------------------------------------------------------------------------------------------- build
def _arrivals(world: World, start: datetime, end: datetime) -> None:
    """Queue the orders (and orphan payments) that arrive in (start, end] at the configured rate."""
    config: WorldConfig = world.config
    hours = (end - start).total_seconds() / 3600
    expected = world.arrival_carry + hours * config.orders_per_hour * world.pace
    count = int(expected)
    world.arrival_carry = expected - count
    rng = random.Random(f"{world.seed}:arrivals:{world.orders_queued}")
    offsets = sorted(rng.random() for _ in range(count))
    for offset in offsets:
        world.orders_queued += 1
        world.schedule_exactly(start + (end - start) * offset, "g_place", world.orders_queued)
    orphans = int(count * config.orphan_rate + rng.random())
    for _ in range(orphans):
        world.orphans_queued += 1
        world.schedule_exactly(start + (end - start) * rng.random(), "g_orphan", world.orphans_queued)


def build_world(orders: int = 1000, seed: int = 0, **settings) -> World:
    """A world of `orders` orders placed over `history_days` days, its clock at `start`."""
    config = WorldConfig(orders=orders, seed=seed, **settings)
    begin = config.start - timedelta(days=config.history_days)
    world = World(clock=begin, seed=seed)
    world.config = config
    world.shipping_method_map = {code: method for code, (_, method) in lc.SHIPPING_METHODS.items()}
    units_per_sku = orders * 1.9 / max(1, sum(len(c) * len(s) for *_, c, s in PRODUCTS))
    build_catalog(world, seed, units_per_sku)
    skus = sorted(world.inventory_item_by_sku)
    rng = random.Random(f"{seed}:inventory")
    for sku in skus:
        if rng.random() < config.inventory_mismatch_rate:
            world.inventory_offsets[sku] = rng.choice([-3, -1, 2, 5, 12])
            lc.sync_inventory(world, sku)
    world.catalog = list(world.shopify_inventory_items)
    world.on_advance = _arrivals
    # The initial orders: exactly `orders` of them, spread over the history.
    history = random.Random(f"{seed}:history")
    offsets = sorted(history.random() for _ in range(orders))
    span = config.start - begin
    for offset in offsets:
        world.orders_queued += 1
        world.schedule(begin + span * offset, "g_place", world.orders_queued)
    for _ in range(int(orders * config.orphan_rate)):
        world.orphans_queued += 1
        world.schedule(begin + span * random.Random(f"{seed}:orphan-at:{world.orphans_queued}").random(),
                       "g_orphan", world.orphans_queued)
    # The world is a few million small objects that live for the whole process; the cyclic collector
    # would rescan them all again and again while they are made (build time grew quadratically).
    gc.disable()
    try:
        applied = lc.run_until(world, config.start)
    finally:
        gc.enable()
        gc.freeze()
    log.info("built a world of %d orders (seed %d): %d events applied, %d pending", orders, seed, applied,
             world.pending_events())
    return world
