"""The sandbox's ground truth: SPEC.md's mismatch rules, judged plainly over the world as it is now.

This reads only what the five systems hold (never what the generator injected), links records the way
SPEC.md says (gateway references first, then Stripe metadata and PayPal invoice ids, with ids
normalised), and applies each rule as written. When a correction arrives through an API the world
changes, and so does the truth. Choices SPEC.md leaves open are noted where they are made.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipshape import codes as definitions
from shipshape_sandbox.world import (
    Address,
    PayPalCapture,
    ShipHeroOrder,
    ShipHeroShipment,
    ShopifyOrder,
    StripePaymentIntent,
    Tracker,
    World,
)

# the codes the rules below judge, with their severities and corrections: the product's one definition
# (dbt_project/seeds/mismatch_codes.csv); tests/test_mismatch_codes.py checks order_codes() writes each
ORDER_CODES = definitions.names("order")

CARRIER_STATUS = {
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "out_for_delivery",
    "delivered": "delivered",
    "return_to_sender": "returned",
    "failure": "exception",
    "error": "exception",
    "cancelled": "unknown",
    "unknown": "unknown",
}

_GID = re.compile(r"^gid://shopify/order/", re.IGNORECASE)
_PUNCT = str.maketrans("", "", string.punctuation)


# ------------------------------------------------------------------------------------- normalising
def norm_order_ref(value: str | None) -> str | None:
    """`#1001`, `1001`, ` 001001 `, `gid://shopify/Order/123` -> `1001`, `1001`, `1001`, `123`."""
    if value is None:
        return None
    text = _GID.sub("", value.strip()).lstrip("#").strip().lower()
    stripped = text.lstrip("0")
    return stripped or (text and "0") or None


def norm_payment_ref(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return text or None


def norm_text(value: str | None) -> str:
    return " ".join((value or "").lower().translate(_PUNCT).split())


def norm_zip(value: str | None) -> str:
    return "".join((value or "").translate(_PUNCT).split()).upper()


def address_key(a: Address) -> tuple[str, ...]:
    return (
        norm_text(a.name),
        norm_text(a.address1),
        norm_text(a.address2),
        norm_text(a.city),
        norm_text(a.province_code),
        norm_zip(a.zip),
        norm_text(a.country_code),
    )


def norm_tracking(value: str) -> str:
    return value.strip().upper()


# ----------------------------------------------------------------------------------------- payments
@dataclass
class Payment:
    """One gateway payment, summed the way SPEC.md's payment status needs."""

    gateway: str  # stripe | paypal
    payment_id: str  # PaymentIntent id | capture id
    currency: str  # upper case
    captured: int = 0
    refunded: int = 0
    authorized: int = 0  # authorized and not captured
    failed: bool = False
    voided: bool = False
    captures: list[int] = field(default_factory=list)  # each successful capture's amount
    refunds: list[tuple[datetime, int]] = field(default_factory=list)
    tracking_numbers: set[str] | None = None  # Stripe: the charge's shipping.tracking_number list
    charge_ids: list[str] = field(default_factory=list)

    @property
    def successful(self) -> bool:
        return self.captured > 0


def _stripe_payments(world: World) -> list[tuple[Payment, StripePaymentIntent]]:
    charges_by_pi: dict[str, list] = defaultdict(list)
    for charge in world.stripe_charges:
        if charge.payment_intent:
            charges_by_pi[charge.payment_intent].append(charge)
    refunds_by_charge: dict[str, list] = defaultdict(list)
    for refund in world.stripe_refunds:
        refunds_by_charge[refund.charge].append(refund)
    out = []
    for pi in world.stripe_payment_intents:
        p = Payment("stripe", pi.id, pi.currency.upper())
        for charge in charges_by_pi.get(pi.id, []):
            p.charge_ids.append(charge.id)
            if charge.status == "succeeded" and charge.captured and charge.amount_captured > 0:
                p.captured += charge.amount_captured
                p.captures.append(charge.amount_captured)
                numbers = (charge.shipping.tracking_number or "") if charge.shipping else ""
                found = {norm_tracking(n) for n in numbers.split(",") if n.strip()}
                p.tracking_numbers = (p.tracking_numbers or set()) | found
            elif charge.status == "failed":
                p.failed = True
            for refund in refunds_by_charge.get(charge.id, []):
                if refund.status == "succeeded":
                    p.refunded += refund.amount
                    p.refunds.append((datetime.fromtimestamp(refund.created, tz=world.clock.tzinfo), refund.amount))
        if pi.status == "requires_capture":
            p.authorized += pi.amount_capturable
        if pi.status == "canceled":
            p.voided = True
        if pi.status == "requires_payment_method" and pi.last_payment_error_code:
            p.failed = True
        out.append((p, pi))
    return out


def _paypal_payments(world: World) -> list[tuple[Payment, PayPalCapture]]:
    out = []
    for capture in world.paypal_captures:
        p = Payment("paypal", capture.id, capture.currency.upper())
        if capture.status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
            p.captured = capture.amount
            p.captures.append(capture.amount)
        elif capture.status in ("DECLINED", "FAILED"):
            p.failed = True
        for rid in capture.refund_ids:
            refund = world.paypal_refunds.get(rid)
            if refund is not None and refund.status == "COMPLETED":
                p.refunded += refund.amount
                p.refunds.append((refund.create_time, refund.amount))
        order = world.paypal_orders.get(capture.order_id)
        if order is not None and order.status == "VOIDED":
            p.voided = True
        out.append((p, capture))
    return out


def payment_status(payments: list[Payment], tolerance: int) -> str:
    captured = sum(p.captured for p in payments)
    refunded = sum(p.refunded for p in payments)
    if captured > 0:
        if refunded == 0:
            return "paid"
        if captured - refunded <= tolerance:
            return "refunded"
        return "partially_refunded"
    if sum(p.authorized for p in payments) > 0:
        return "authorized"
    if any(p.failed for p in payments):
        return "failed"
    if any(p.voided for p in payments):
        return "voided"
    return "unpaid"


# ------------------------------------------------------------------------------------------ linking
@dataclass
class Links:
    payments_by_order: dict[int, list[Payment]]
    orphans: list[Payment]
    shiphero_by_order: dict[int, ShipHeroOrder]
    shipments_by_sh: dict[str, list[ShipHeroShipment]]
    trackers_by_code: dict[str, Tracker]  # by normalised tracking number


def link(world: World) -> Links:
    """Link payments and 3PL orders to Shopify orders as SPEC.md says."""
    orders = list(world.shopify_orders)
    by_ref: dict[str, int] = {}
    for order in orders:
        by_ref[str(order.id)] = order.id
        name_key = norm_order_ref(order.name)
        if name_key is not None:
            by_ref.setdefault(name_key, order.id)

    def order_for(ref: str | None) -> int | None:
        key = norm_order_ref(ref)
        return by_ref.get(key) if key is not None else None

    # primary: the Shopify transaction's gateway reference
    primary: dict[tuple[str, str], int] = {}
    for order in orders:
        for txn in order.transactions:
            ref = norm_payment_ref(txn.reference)
            if ref and txn.gateway in ("stripe", "paypal"):
                primary.setdefault((txn.gateway, ref), order.id)

    payments_by_order: dict[int, list[Payment]] = defaultdict(list)
    orphans: list[Payment] = []
    for p, pi in _stripe_payments(world):
        order_id = primary.get(("stripe", norm_payment_ref(pi.id) or ""))
        if order_id is None:
            order_id = order_for(pi.metadata.get("shopify_order_id"))
        _place(p, order_id, payments_by_order, orphans)
    for p, capture in _paypal_payments(world):
        order_id = primary.get(("paypal", norm_payment_ref(capture.id) or ""))
        if order_id is None:
            order_id = order_for(capture.invoice_id)
        _place(p, order_id, payments_by_order, orphans)

    shiphero_by_order: dict[int, ShipHeroOrder] = {}
    for sh in world.shiphero_orders.sorted_by("updated_at"):
        order_id = order_for(sh.partner_order_id)
        if order_id is None:
            order_id = order_for(sh.order_number)
        if order_id is None:
            continue
        current = shiphero_by_order.get(order_id)
        # Choice: when two 3PL orders claim one Shopify order, the live (not cancelled) one counts.
        if current is None or current.fulfillment_status == "canceled" or sh.fulfillment_status != "canceled":
            shiphero_by_order[order_id] = sh
    shipments_by_sh: dict[str, list[ShipHeroShipment]] = defaultdict(list)
    for shipment in world.shiphero_shipments:
        shipments_by_sh[shipment.order_id].append(shipment)
    trackers = {norm_tracking(t.tracking_code): t for t in world.trackers.sorted_by("created_at")}
    return Links(payments_by_order, orphans, shiphero_by_order, shipments_by_sh, trackers)


def _place(p: Payment, order_id: int | None, by_order: dict[int, list[Payment]], orphans: list[Payment]) -> None:
    if order_id is not None:
        by_order[order_id].append(p)
    elif p.successful:
        orphans.append(p)


# --------------------------------------------------------------------------------------------- rules
def order_codes(world: World, order: ShopifyOrder, links: Links, paypal_trackers: dict[str, set[str]]) -> list[str]:
    s = world.settings
    as_of: datetime = world.clock
    tol: int = s["amount_tolerance_cents"]
    codes: list[str] = []

    cancelled = order.cancelled_at is not None and order.cancelled_at <= as_of
    # Choice: a line item removed by an edit (current quantity 0) no longer needs shipping.
    needs_shipping = any(li.requires_shipping and li.current_quantity > 0 for li in order.line_items)
    sh = links.shiphero_by_order.get(order.id)
    shipments = links.shipments_by_sh.get(sh.id, []) if sh is not None else []
    has_shipment = bool(shipments)
    active = sh is not None and sh.fulfillment_status != "canceled" and not has_shipment
    payments = links.payments_by_order.get(order.id, [])
    status = payment_status(payments, tol)
    good = status in ("paid", "partially_refunded") or (status == "authorized" and s["ship_on_authorization"])
    placed_at = order.created_at
    numbers = [norm_tracking(label.tracking_number) for sm in shipments for label in sm.labels]

    if good and not cancelled and needs_shipping and sh is None and placed_at <= as_of - timedelta(hours=s["missing_in_3pl_grace_hours"]):
        codes.append("MISSING_IN_3PL")
    if not cancelled and active and order.shipping_address is not None:
        if address_key(order.shipping_address) != address_key(sh.shipping_address):
            codes.append("ADDRESS_MISMATCH")
    if not cancelled and active:
        shopify_items: dict[str, int] = defaultdict(int)
        for li in order.line_items:
            shopify_items[li.sku or ""] += li.current_quantity
        sh_items: dict[str, int] = defaultdict(int)
        for li in sh.line_items:
            sh_items[li.sku] += li.quantity
        if {k: v for k, v in shopify_items.items() if v} != {k: v for k, v in sh_items.items() if v}:
            codes.append("LINE_ITEMS_MISMATCH")
    if not cancelled and active and order.shipping_line is not None:
        code = order.shipping_line.code
        expected = world.shipping_method_map.get(code, code)
        if expected.lower() != (sh.shipping_method or "").lower():
            codes.append("SHIPPING_METHOD_MISMATCH")
    if cancelled and active:
        codes.append("CANCELLED_NOT_IN_3PL")
    if cancelled and has_shipment:
        codes.append("CANCELLED_BUT_SHIPPED")
    if not cancelled and active and not good and not sh.holds.payment_hold:
        codes.append("UNPAID_NOT_HELD")
    if has_shipment and status in ("unpaid", "failed", "voided"):
        codes.append("SHIPPED_UNPAID")
    if status == "refunded" and has_shipment:
        reached = _refunds_reached_captured_at(payments, tol)
        if reached is not None and any(sm.created_date > reached for sm in shipments):
            codes.append("SHIPPED_AFTER_REFUND")
    captured = sum(p.captured for p in payments)
    refunded = sum(p.refunded for p in payments)
    if captured > 0 or refunded > 0:
        shopify_net = order.received() - order.refunded()
        currency_differs = any(p.currency != order.currency.upper() for p in payments)
        if abs((captured - refunded) - shopify_net) > tol or currency_differs:
            codes.append("AMOUNT_MISMATCH")
    if order.received() > 0 and not payments:
        codes.append("PAYMENT_MISSING")
    all_captures = [amount for p in payments for amount in p.captures]
    if len(all_captures) > 1 and sum(all_captures) > order.total() + tol:
        codes.append("DUPLICATE_CAPTURE")
    live_paypal = [p for p in payments if p.gateway == "paypal" and p.captured > 0 and p.captured - p.refunded > tol]
    if live_paypal and numbers:
        on_paypal: set[str] = set()
        for p in (p for p in payments if p.gateway == "paypal"):
            on_paypal |= paypal_trackers.get(p.payment_id, set())
        if any(n not in on_paypal for n in numbers):
            codes.append("TRACKING_MISSING_IN_PAYPAL")
    live_stripe = [p for p in payments if p.gateway == "stripe" and p.captured > 0 and p.captured - p.refunded > tol]
    if numbers and any(any(n not in (p.tracking_numbers or set()) for n in numbers) for p in live_stripe):
        codes.append("TRACKING_MISSING_IN_STRIPE")
    on_shopify = {norm_tracking(t.number) for f in order.fulfillments if f.status == "SUCCESS" for t in f.tracking}
    if any(n not in on_shopify for n in numbers):
        codes.append("TRACKING_MISSING_IN_SHOPIFY")
    if has_shipment and all(_shipment_delivered(links, sm) for sm in shipments) and order.display_fulfillment_status() != "FULFILLED":
        codes.append("DELIVERED_NOT_FULFILLED")
    if order.display_fulfillment_status() == "FULFILLED" and not has_shipment:
        codes.append("FULFILLED_WITHOUT_SHIPMENT")
    if good and not cancelled and needs_shipping and not has_shipment and placed_at <= as_of - timedelta(hours=s["ship_sla_hours"]):
        codes.append("STALLED_FULFILLMENT")
    if has_shipment:
        latest = max(shipments, key=lambda sm: (sm.created_date, sm.legacy_id))
        if shipment_carrier_status(links, latest) in ("exception", "returned"):
            codes.append("DELIVERY_EXCEPTION")
    return codes


def _refunds_reached_captured_at(payments: list[Payment], tol: int) -> datetime | None:
    captured = sum(p.captured for p in payments)
    total = 0
    for at, amount in sorted(r for p in payments for r in p.refunds):
        total += amount
        if captured - total <= tol:
            return at
    return None


def shipment_carrier_status(links: Links, shipment: ShipHeroShipment) -> str:
    """The carrier status of a shipment: its most recent label's tracker, mapped; `none` if untracked."""
    if not shipment.labels:
        return "none"
    label = max(shipment.labels, key=lambda lb: (lb.created_date, lb.legacy_id))
    tracker = links.trackers_by_code.get(norm_tracking(label.tracking_number))
    return CARRIER_STATUS.get(tracker.status, "unknown") if tracker is not None else "none"


def _shipment_delivered(links: Links, shipment: ShipHeroShipment) -> bool:
    return bool(shipment.labels) and all(
        (t := links.trackers_by_code.get(norm_tracking(label.tracking_number))) is not None
        and CARRIER_STATUS.get(t.status) == "delivered"
        for label in shipment.labels
    )


def inventory_mismatches(world: World) -> list[dict[str, Any]]:
    tol = world.settings["inventory_tolerance"]
    shiphero_locations = {loc.id for loc in world.shopify_locations if loc.fulfillment_service_handle == "shiphero"}
    shopify: dict[str, int] = defaultdict(int)
    for item in world.shopify_inventory_items:
        shopify[item.sku] += 0
    for (item_id, location_id), level in world.shopify_inventory_levels.items():
        item = world.shopify_inventory_items.get(item_id)
        if item is not None and location_id in shiphero_locations:
            shopify[item.sku] += level.available
    shiphero = {p.sku: p.available for p in world.shiphero_products}
    out = []
    for sku in sorted(set(shopify) | set(shiphero)):
        a, b = shopify.get(sku, 0), shiphero.get(sku, 0)
        if abs(a - b) > tol:
            out.append({"sku": sku, "shopify_available": a, "shiphero_available": b})
    return out


def compute_truth(world: World) -> dict[str, Any]:
    """Every order's codes, the orphan payments and the SKU inventory mismatches, as of the world clock."""
    links = link(world)
    paypal_trackers: dict[str, set[str]] = defaultdict(set)
    for tracker in world.paypal_trackers:
        if tracker.status != "CANCELLED":
            paypal_trackers[tracker.transaction_id].add(norm_tracking(tracker.tracking_number))
    orders = [
        {"order_id": order.id, "name": order.name, "codes": order_codes(world, order, links, paypal_trackers)}
        for order in world.shopify_orders.sorted_by("created_at")
    ]
    return {
        "as_of": world.clock.isoformat().replace("+00:00", "Z"),
        "orders": orders,
        "orphan_payments": [{"gateway": p.gateway, "payment_id": p.payment_id} for p in links.orphans],
        "inventory_mismatches": inventory_mismatches(world),
    }
