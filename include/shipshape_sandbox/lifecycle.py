"""What happens in the merchant's world: orders are placed, paid, sent to the 3PL, shipped, tracked,
refunded, edited and cancelled, each action writing to the systems that would really see it.

Every action happens at `world.clock`. The generator drives these actions (and the deliberate
disagreements) for thousands of orders through the world's event queue; tests call them directly to
hand-build tiny worlds; the API modules call the same helpers when a mutation arrives, so a correction
changes the world exactly as the real service would.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shipshape_sandbox.world import (
    Address,
    PayPalCapture,
    PayPalOrder,
    PayPalRefund,
    PayPalTracker,
    ShipHeroHolds,
    ShipHeroLineItem,
    ShipHeroOrder,
    ShipHeroShipment,
    ShipHeroShippingLabel,
    ShopifyFulfillment,
    ShopifyInventoryItem,
    ShopifyLineItem,
    ShopifyOrder,
    ShopifyShippingLine,
    ShopifyTrackingInfo,
    ShopifyTransaction,
    StripeCharge,
    StripeDispute,
    StripeEvent,
    StripePaymentIntent,
    StripeRefund,
    StripeShipping,
    Tracker,
    TrackingDetail,
    World,
    epoch,
)


@dataclass(frozen=True, slots=True)
class Carrier:
    """One carrier as each system names it."""

    shiphero: str  # ShipHero shipping label carrier
    easypost: str  # tracker API carrier
    paypal: str  # PayPal tracking carrier enum
    stripe: str  # Stripe shipping.carrier free text
    shopify: str  # Shopify trackingInfo company


CARRIERS: dict[str, Carrier] = {
    "usps": Carrier("usps", "USPS", "USPS", "USPS", "USPS"),
    "ups": Carrier("ups", "UPS", "UPS", "UPS", "UPS"),
    "fedex": Carrier("fedex", "FedEx", "FEDEX", "FedEx", "FedEx"),
    "dhl": Carrier("dhl", "DHLExpress", "DHL", "DHL", "DHL Express"),
}

# Shopify shipping line code -> (ShipHero carrier, ShipHero shipping method). The dbt seed holds the
# same map; codes it lacks (like "Courier") are compared as they are.
SHIPPING_METHODS: dict[str, tuple[str, str]] = {
    "STANDARD": ("usps", "usps_priority"),
    "ECONOMY": ("usps", "usps_ground_advantage"),
    "EXPRESS": ("ups", "ups_2nd_day_air"),
    "OVERNIGHT": ("fedex", "fedex_priority_overnight"),
    "INTERNATIONAL": ("dhl", "dhl_express_worldwide"),
}
SHIPPING_TITLES = {
    "STANDARD": "Standard Shipping",
    "ECONOMY": "Economy",
    "EXPRESS": "Express (2 days)",
    "OVERNIGHT": "Overnight",
    "INTERNATIONAL": "International Express",
    "Courier": "Local courier",
}

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _token(world: World, label: str, n: int, alphabet: str = _B62) -> str:
    """A deterministic id body: same seed, same ids."""
    raw = hashlib.blake2b(f"{world.seed}:{label}".encode(), digest_size=n).digest()
    size = len(alphabet)
    return "".join([alphabet[b % size] for b in raw])


def relay_id(kind: str, legacy_id: int) -> str:
    """ShipHero's Relay ids: base64 of "<Type>:<legacy id>"."""
    return base64.b64encode(f"{kind}:{legacy_id}".encode()).decode()


def stripe_id(world: World, prefix: str) -> str:
    n = world.next_id(f"stripe:{prefix}")
    return f"{prefix}_3Sb{_token(world, f'{prefix}{n}', 21)}"


def paypal_id(world: World, kind: str) -> str:
    n = world.next_id(f"paypal:{kind}")
    return _token(world, f"pp{kind}{n}", 17, "0123456789ABCDEFGHJKLMNPRSTUVWXY")


def paypal_payer_id(world: World) -> str:
    """PayPal account ids are 13 characters of ^[2-9A-HJ-NP-Z]$ (the Orders v2 spec's pattern)."""
    n = world.next_id("paypal:payer")
    return _token(world, f"pppayer{n}", 13, "23456789ABCDEFGHJKLMNPQRSTUVWXYZ")


def tracking_number(world: World, carrier: str) -> str:
    n = world.next_id("tracking_number")
    digits = "0123456789"
    if carrier == "ups":
        return "1Z" + _token(world, f"ups{n}", 16, "0123456789ABCDEFGHJKLMNPRSTUVWXY")
    if carrier == "usps":
        return "9400" + _token(world, f"usps{n}", 18, digits)
    if carrier == "fedex":
        return _token(world, f"fedex{n}", 12, digits)
    return _token(world, f"dhl{n}", 10, digits)


def stripe_event(world: World, type_: str, obj: Any, previous_attributes: dict[str, Any] | None = None) -> StripeEvent:
    """Record a Stripe event carrying a snapshot of `obj` as it is now (Stripe events are immutable)."""
    kind = "dispute" if type_.startswith("charge.dispute.") else type_.rsplit(".", 1)[0]
    event = StripeEvent(
        id=stripe_id(world, "evt"),
        created=epoch(world.clock),
        type=type_,
        object_kind=kind,
        snapshot=copy.copy(obj),
        previous_attributes=previous_attributes,
    )
    if hasattr(obj, "updated"):
        obj.updated = event.created
    world.stripe_events.add(event)
    return event


# ------------------------------------------------------------------------------------------- Shopify
def place_order(
    world: World,
    *,
    address: Address,
    email: str,
    currency: str,
    items: list[tuple[ShopifyInventoryItem, int, int]],  # (catalog item, quantity, unit price in cents)
    shipping_code: str,
    shipping_price: int,
) -> ShopifyOrder:
    """A customer checks out on Shopify: the order exists, with no payment yet."""
    n = world.next_id("shopify_order")
    now = world.clock
    line_items = [
        ShopifyLineItem(
            id=world.next_id("shopify_line_item", 14_100_000_000_000),
            product_id=item.product_id,
            variant_id=item.variant_id,
            sku=item.sku,
            title=item.product_title,
            variant_title=item.variant_title,
            quantity=qty,
            current_quantity=qty,
            unit_price=price,
        )
        for item, qty, price in items
    ]
    order = ShopifyOrder(
        id=6_100_000_000_000 + n * 97,
        name=f"#{1000 + n}",
        created_at=now,
        updated_at=now,
        currency=currency,
        email=email,
        shipping_address=address,
        shipping_line=ShopifyShippingLine(
            code=shipping_code, title=SHIPPING_TITLES.get(shipping_code, shipping_code), price=shipping_price
        ),
        line_items=line_items,
    )
    world.shopify_orders.add(order)
    return order


def shopify_transaction(
    world: World,
    order: ShopifyOrder,
    kind: str,
    amount: int,
    *,
    gateway: str,
    reference: str | None,
    status: str = "SUCCESS",
    parent_id: int | None = None,
) -> ShopifyTransaction:
    txn = ShopifyTransaction(
        id=world.next_id("shopify_transaction", 7_200_000_000_000),
        kind=kind,
        status=status,
        gateway=gateway,
        amount=amount,
        currency=order.currency,
        reference=reference,
        created_at=world.clock,
        parent_id=parent_id,
    )
    order.transactions.append(txn)
    touch_shopify_order(world, order)
    return txn


def touch_shopify_order(world: World, order: ShopifyOrder) -> None:
    order.updated_at = world.clock
    world.changed()


def shopify_fulfill(
    world: World,
    order: ShopifyOrder,
    tracking: list[tuple[str, str]],  # (tracking number, ShipHero carrier)
    line_items: list[tuple[int, int]] | None = None,
) -> ShopifyFulfillment:
    """Shopify records a fulfillment; by default of every unfulfilled quantity."""
    if line_items is None:
        done = order.fulfilled_quantities()
        line_items = [
            (li.id, li.current_quantity - done.get(li.id, 0))
            for li in order.line_items
            if li.requires_shipping and li.current_quantity - done.get(li.id, 0) > 0
        ]
    fulfillment = ShopifyFulfillment(
        id=world.next_id("shopify_fulfillment", 5_400_000_000_000),
        created_at=world.clock,
        updated_at=world.clock,
        status="SUCCESS",
        tracking=[
            ShopifyTrackingInfo(number, CARRIERS[carrier].shopify, tracking_url(carrier, number))
            for number, carrier in tracking
        ],
        line_items=line_items,
    )
    order.fulfillments.append(fulfillment)
    touch_shopify_order(world, order)
    return fulfillment


def tracking_url(carrier: str, number: str) -> str:
    return {
        "ups": f"https://www.ups.com/track?tracknum={number}",
        "usps": f"https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
        "fedex": f"https://www.fedex.com/fedextrack/?trknbr={number}",
        "dhl": f"https://www.dhl.com/en/express/tracking.html?AWB={number}",
    }[carrier]


def edit_address(world: World, order: ShopifyOrder, address: Address, *, propagate: bool = True) -> None:
    """The customer changes the shipping address; the 3PL app passes it on unless `propagate` is False."""
    order.shipping_address = address
    touch_shopify_order(world, order)
    sh = shiphero_order_for(world, order)
    if propagate and sh is not None and not shiphero_has_shipment(world, sh):
        sh.shipping_address = replace(address)
        touch_shiphero_order(world, sh)


def edit_quantity(world: World, order: ShopifyOrder, line_item_id: int, quantity: int, *, propagate: bool = True) -> None:
    """A staff order edit changes a line's current quantity (0 removes it)."""
    li = next(li for li in order.line_items if li.id == line_item_id)
    li.current_quantity = quantity
    touch_shopify_order(world, order)
    sh = shiphero_order_for(world, order)
    if propagate and sh is not None and not shiphero_has_shipment(world, sh):
        for sh_li in sh.line_items:
            if sh_li.partner_line_item_id == str(line_item_id):
                adjust_stock(world, sh_li.sku, allocated=quantity - sh_li.quantity)
                sh_li.quantity = quantity
        touch_shiphero_order(world, sh)


def change_shipping_method(world: World, order: ShopifyOrder, code: str, *, propagate: bool = True) -> None:
    assert order.shipping_line is not None
    order.shipping_line.code = code
    order.shipping_line.title = SHIPPING_TITLES.get(code, code)
    touch_shopify_order(world, order)
    sh = shiphero_order_for(world, order)
    if propagate and sh is not None and not shiphero_has_shipment(world, sh):
        sh.shipping_carrier, sh.shipping_method = SHIPPING_METHODS.get(code, ("usps", code))
        sh.shipping_title = order.shipping_line.title
        touch_shiphero_order(world, sh)


def cancel_order(world: World, order: ShopifyOrder, *, reason: str = "CUSTOMER", propagate: bool = True,
                 refund: bool = True) -> None:
    """The merchant cancels in Shopify: refund what was paid, void an open authorization, tell the 3PL."""
    order.cancelled_at = world.clock
    order.cancel_reason = reason
    order.closed_at = world.clock
    touch_shopify_order(world, order)
    if refund:
        outstanding = order.received() - order.refunded()
        if outstanding > 0:
            refund_order(world, order, outstanding)
        void_authorizations(world, order)
    sh = shiphero_order_for(world, order)
    if propagate and sh is not None and not shiphero_has_shipment(world, sh):
        cancel_in_shiphero(world, sh)


# ------------------------------------------------------------------------------------------- payments
def pay_with_stripe(
    world: World,
    order: ShopifyOrder,
    *,
    capture: bool = True,
    fail: bool = False,
    amount: int | None = None,
    currency: str | None = None,
    metadata_order_id: str | None = None,
    record_reference: str | None | bool = True,
    record_in_shopify: bool = True,
) -> StripePaymentIntent:
    """Checkout pays through Stripe: a PaymentIntent with one charge, and Shopify's transaction for it.

    `record_reference=True` stores the PaymentIntent id on the Shopify transaction; a string stores that
    string instead (ID drift, or a reference to a payment Stripe does not have); None stores nothing.
    """
    amount = order.total() if amount is None else amount
    currency = (currency or order.currency).lower()
    now = epoch(world.clock)
    address = order.shipping_address
    shipping = StripeShipping(name=address.name, address=replace(address), phone=address.phone) if address else None
    pi = StripePaymentIntent(
        id=stripe_id(world, "pi"),
        created=now,
        amount=amount,
        currency=currency,
        status="requires_payment_method",
        capture_method="automatic" if capture else "manual",
        metadata={"shopify_order_id": metadata_order_id if metadata_order_id is not None else str(order.id),
                  "shopify_order_name": order.name},
        description=f"Shopify order {order.name}",
        receipt_email=order.email,
        shipping=shipping,
        updated=now,
    )
    world.stripe_payment_intents.add(pi)
    world.order_payments.setdefault(order.id, []).append(pi.id)
    stripe_event(world, "payment_intent.created", pi)
    charge = StripeCharge(
        id=stripe_id(world, "ch"),
        created=now,
        amount=amount,
        currency=currency,
        status="failed" if fail else "succeeded",
        payment_intent=pi.id,
        captured=capture and not fail,
        amount_captured=amount if capture and not fail else 0,
        paid=not fail,
        failure_code="card_declined" if fail else None,
        failure_message="Your card was declined." if fail else None,
        metadata=dict(pi.metadata),
        billing_name=address.name if address else None,
        receipt_email=order.email,
        shipping=replace(shipping, address=replace(shipping.address)) if shipping else None,
        balance_transaction=None if fail else stripe_id(world, "txn"),
        updated=now,
    )
    world.stripe_charges.add(charge)
    pi.latest_charge = charge.id
    if fail:
        pi.last_payment_error_code = "card_declined"
        stripe_event(world, "charge.failed", charge)
        stripe_event(world, "payment_intent.payment_failed", pi)
    elif capture:
        pi.status, pi.amount_received = "succeeded", amount
        stripe_event(world, "charge.succeeded", charge)
        stripe_event(world, "payment_intent.succeeded", pi)
    else:
        pi.status, pi.amount_capturable = "requires_capture", amount
        stripe_event(world, "charge.succeeded", charge)
        stripe_event(world, "payment_intent.amount_capturable_updated", pi)
    if record_in_shopify:
        reference = pi.id if record_reference is True else record_reference or None
        shopify_transaction(
            world, order, "SALE" if capture else "AUTHORIZATION", order.total() if not fail else amount,
            gateway="stripe", reference=reference, status="FAILURE" if fail else "SUCCESS",
        )
    return pi


def capture_stripe(world: World, order: ShopifyOrder, pi: StripePaymentIntent) -> None:
    """A manual-capture PaymentIntent is captured (at shipment), and Shopify records the capture."""
    charge = world.stripe_charges.get(pi.latest_charge)
    assert charge is not None and pi.status == "requires_capture"
    charge.captured, charge.amount_captured = True, pi.amount_capturable
    pi.amount_received, pi.amount_capturable, pi.status = pi.amount_capturable, 0, "succeeded"
    stripe_event(world, "charge.captured", charge, {"captured": False, "amount_captured": 0})
    stripe_event(world, "payment_intent.succeeded", pi, {"status": "requires_capture"})
    auth = next((t for t in order.transactions if t.kind == "AUTHORIZATION" and t.status == "SUCCESS"), None)
    shopify_transaction(world, order, "CAPTURE", charge.amount_captured, gateway="stripe",
                        reference=auth.reference if auth else pi.id, parent_id=auth.id if auth else None)


def pay_with_paypal(
    world: World,
    order: ShopifyOrder,
    *,
    fail: bool = False,
    amount: int | None = None,
    invoice_id: str | None = None,
    record_reference: str | None | bool = True,
    record_in_shopify: bool = True,
) -> PayPalCapture:
    """Checkout pays through PayPal: an Orders v2 order captured at once, and Shopify's transaction."""
    amount = order.total() if amount is None else amount
    address = order.shipping_address
    pp_order = PayPalOrder(
        id=paypal_id(world, "order"),
        status="COMPLETED",
        intent="CAPTURE",
        create_time=world.clock,
        update_time=world.clock,
        currency=order.currency,
        amount=amount,
        invoice_id=invoice_id if invoice_id is not None else order.name,
        custom_id=str(order.id),
        reference_id="default",
        payer_email=order.email,
        payer_id=paypal_payer_id(world),
        shipping_address=replace(address) if address else None,
    )
    capture = PayPalCapture(
        id=paypal_id(world, "capture"),
        order_id=pp_order.id,
        status="DECLINED" if fail else "COMPLETED",
        amount=amount,
        currency=order.currency,
        fee=0 if fail else round(amount * 0.0349) + 49,
        create_time=world.clock,
        update_time=world.clock,
        invoice_id=pp_order.invoice_id,
        custom_id=pp_order.custom_id,
    )
    pp_order.capture_ids.append(capture.id)
    world.paypal_orders.add(pp_order)
    world.paypal_captures.add(capture)
    world.order_payments.setdefault(order.id, []).append(capture.id)
    if record_in_shopify:
        reference = capture.id if record_reference is True else record_reference or None
        shopify_transaction(world, order, "SALE", order.total() if not fail else amount, gateway="paypal",
                            reference=reference, status="FAILURE" if fail else "SUCCESS")
    return capture


def linked_stripe_intents(world: World, order: ShopifyOrder) -> list[StripePaymentIntent]:
    """The PaymentIntents checkout made for this order (the lifecycle's own view, not the truth's)."""
    ids = world.order_payments.get(order.id, [])
    return [pi for i in ids if (pi := world.stripe_payment_intents.get(i)) is not None]


def linked_paypal_captures(world: World, order: ShopifyOrder) -> list[PayPalCapture]:
    ids = world.order_payments.get(order.id, [])
    return [c for i in ids if (c := world.paypal_captures.get(i)) is not None]


def refund_in_stripe(world: World, pi: StripePaymentIntent, amount: int, reason: str | None = None) -> StripeRefund:
    charge = world.stripe_charges.get(pi.latest_charge)
    assert charge is not None
    refund = StripeRefund(
        id=stripe_id(world, "re"),
        created=epoch(world.clock),
        amount=amount,
        currency=charge.currency,
        charge=charge.id,
        payment_intent=pi.id,
        status="succeeded",
        reason=reason or "requested_by_customer",
        updated=epoch(world.clock),
    )
    world.stripe_refunds.add(refund)
    previous = {"amount_refunded": charge.amount_refunded}
    charge.amount_refunded += amount
    stripe_event(world, "refund.created", refund)
    stripe_event(world, "charge.refunded", charge, previous)
    return refund


def refund_in_paypal(world: World, capture: PayPalCapture, amount: int) -> PayPalRefund:
    refund = PayPalRefund(
        id=paypal_id(world, "refund"),
        capture_id=capture.id,
        amount=amount,
        currency=capture.currency,
        status="COMPLETED",
        create_time=world.clock,
        update_time=world.clock,
        invoice_id=capture.invoice_id,
    )
    world.paypal_refunds.add(refund)
    capture.refund_ids.append(refund.id)
    refunded = sum(r.amount for rid in capture.refund_ids if (r := world.paypal_refunds.get(rid)))
    capture.status = "REFUNDED" if refunded >= capture.amount else "PARTIALLY_REFUNDED"
    capture.update_time = world.clock
    world.changed()
    return refund


def refund_order(world: World, order: ShopifyOrder, amount: int, *, record_in_shopify: bool = True) -> None:
    """Refund `amount` through the order's gateway, and record it in Shopify unless told not to."""
    for pi in linked_stripe_intents(world, order):
        charge = world.stripe_charges.get(pi.latest_charge)
        if charge and charge.amount_captured - charge.amount_refunded >= amount:
            refund_in_stripe(world, pi, amount)
            gateway, reference = "stripe", pi.id
            break
    else:
        for capture in linked_paypal_captures(world, order):
            if capture.status in ("COMPLETED", "PARTIALLY_REFUNDED"):
                refund_in_paypal(world, capture, amount)
                gateway, reference = "paypal", capture.id
                break
        else:
            gateway, reference = "manual", None
    if record_in_shopify:
        shopify_transaction(world, order, "REFUND", amount, gateway=gateway, reference=reference)


def void_authorizations(world: World, order: ShopifyOrder) -> None:
    for pi in linked_stripe_intents(world, order):
        if pi.status == "requires_capture":
            pi.status, pi.canceled_at, pi.cancellation_reason = "canceled", epoch(world.clock), "requested_by_customer"
            pi.amount_capturable = 0
            stripe_event(world, "payment_intent.canceled", pi, {"status": "requires_capture"})
            auth = next((t for t in order.transactions if t.kind == "AUTHORIZATION"), None)
            shopify_transaction(world, order, "VOID", 0, gateway="stripe", reference=pi.id,
                                parent_id=auth.id if auth else None)


def open_dispute(world: World, pi: StripePaymentIntent, reason: str = "product_not_received") -> StripeDispute:
    charge = world.stripe_charges.get(pi.latest_charge)
    assert charge is not None
    dispute = StripeDispute(
        id=stripe_id(world, "dp"),
        created=epoch(world.clock),
        amount=charge.amount_captured,
        currency=charge.currency,
        charge=charge.id,
        payment_intent=pi.id,
        status="needs_response",
        reason=reason,
        updated=epoch(world.clock),
    )
    world.stripe_disputes.add(dispute)
    charge.disputed = True
    stripe_event(world, "charge.dispute.created", dispute)
    return dispute


# ------------------------------------------------------------------------------------------ ShipHero
def touch_shiphero_order(world: World, sh: ShipHeroOrder) -> None:
    sh.updated_at = world.clock
    world.changed()


def shiphero_order_for(world: World, order: ShopifyOrder) -> ShipHeroOrder | None:
    """The 3PL order the merchant's integration created for this Shopify order (the lifecycle's own link)."""
    sh_id = world.integration_links.get(order.id)
    return world.shiphero_orders.get(sh_id) if sh_id else None


def shiphero_has_shipment(world: World, sh: ShipHeroOrder) -> bool:
    return bool(world.shipments_by_order.get(sh.id))


def send_to_3pl(
    world: World,
    order: ShopifyOrder,
    *,
    partner_order_id: str | None = None,
    order_number: str | None = None,
    payment_hold: bool = False,
) -> ShipHeroOrder:
    """The merchant's ShipHero integration creates the 3PL order from the Shopify order as it is now."""
    legacy = world.next_id("shiphero_order", 310_000_000)
    assert order.shipping_address is not None and order.shipping_line is not None
    carrier, method = SHIPPING_METHODS.get(order.shipping_line.code, ("usps", order.shipping_line.code))
    sh = ShipHeroOrder(
        id=relay_id("Order", legacy),
        legacy_id=legacy,
        order_number=order_number if order_number is not None else order.name,
        partner_order_id=partner_order_id if partner_order_id is not None else str(order.id),
        shop_name="sandbox-merchant.myshopify.com",
        fulfillment_status="pending",
        order_date=order.created_at,
        updated_at=world.clock,
        currency=order.currency,
        email=order.email,
        shipping_address=replace(order.shipping_address),
        shipping_carrier=carrier,
        shipping_method=method,
        shipping_title=order.shipping_line.title,
        shipping_price=order.shipping_line.price,
        line_items=[],
        holds=ShipHeroHolds(payment_hold=payment_hold),
        total_price=order.total(current=True),
    )
    for li in order.line_items:
        if li.current_quantity <= 0 or not li.requires_shipping:
            continue
        li_legacy = world.next_id("shiphero_line_item", 520_000_000)
        sh.line_items.append(
            ShipHeroLineItem(
                id=relay_id("LineItem", li_legacy),
                legacy_id=li_legacy,
                sku=li.sku or "",
                partner_line_item_id=str(li.id),
                product_name=f"{li.title} - {li.variant_title}" if li.variant_title else li.title,
                quantity=li.current_quantity,
                price=li.unit_price,
            )
        )
    world.shiphero_orders.add(sh)
    world.integration_links[order.id] = sh.id
    for li in sh.line_items:
        adjust_stock(world, li.sku, allocated=li.quantity)
    return sh


def adjust_stock(world: World, sku: str, *, on_hand: int = 0, allocated: int = 0) -> None:
    """ShipHero's stock moves, and its inventory sync copies `available` to Shopify's ShipHero location
    (off by `world.inventory_offsets[sku]` where that sync is broken)."""
    product = world.shiphero_products.get(sku)
    if product is None:
        return
    product.on_hand += on_hand
    product.allocated = max(0, product.allocated + allocated)
    product.updated_at = world.clock
    sync_inventory(world, sku)


def sync_inventory(world: World, sku: str) -> None:
    product = world.shiphero_products.get(sku)
    item_id = world.inventory_item_by_sku.get(sku)
    if product is None or item_id is None:
        return
    for location in world.shopify_locations:
        if location.fulfillment_service_handle != "shiphero":
            continue
        level = world.shopify_inventory_levels.get((item_id, location.id))
        if level is None:
            continue
        target = product.available + world.inventory_offsets.get(sku, 0)
        if level.available != target:
            level.on_hand += target - level.available
            level.available = target
            level.updated_at = world.clock
            item = world.shopify_inventory_items.get(item_id)
            if item is not None:
                item.updated_at = world.clock
    world.changed()


def set_shopify_available(world: World, item_id: int, location_id: int, quantity: int) -> None:
    """Shopify's available quantity is set (inventorySetQuantities); a correction also mends the sync."""
    level = world.shopify_inventory_levels[(item_id, location_id)]
    level.on_hand += quantity - level.available
    level.available = quantity
    level.updated_at = world.clock
    item = world.shopify_inventory_items.get(item_id)
    if item is not None:
        item.updated_at = world.clock
        product = world.shiphero_products.get(item.sku)
        if product is not None and product.available == quantity:
            world.inventory_offsets.pop(item.sku, None)
    world.changed()


def cancel_in_shiphero(world: World, sh: ShipHeroOrder) -> None:
    sh.fulfillment_status = "canceled"
    sh.cancelled_at = world.clock
    touch_shiphero_order(world, sh)
    for li in sh.line_items:
        adjust_stock(world, li.sku, allocated=-(li.quantity - li.quantity_shipped))


def ship(
    world: World,
    order: ShopifyOrder,
    *,
    line_items: list[tuple[str, int]] | None = None,
    sync_shopify: bool = True,
    sync_stripe: bool = True,
    sync_paypal: bool = True,
    shopify_line_items: list[tuple[int, int]] | None = None,
) -> ShipHeroShipment:
    """The 3PL ships (some of) the order: a shipment with a label, a tracker, and the integrations that
    copy the tracking number to Shopify, Stripe and PayPal (each can be left out to inject a gap)."""
    sh = shiphero_order_for(world, order)
    assert sh is not None, f"order {order.name} was never sent to the 3PL"
    if line_items is None:
        line_items = [(li.id, li.quantity - li.quantity_shipped) for li in sh.line_items if li.quantity > li.quantity_shipped]
    carrier = CARRIERS[sh.shipping_carrier] if sh.shipping_carrier in CARRIERS else CARRIERS["usps"]
    number = tracking_number(world, carrier.shiphero)
    label_legacy = world.next_id("shiphero_label", 880_000_000)
    shipment_legacy = world.next_id("shiphero_shipment", 640_000_000)
    shipment = ShipHeroShipment(
        id=relay_id("Shipment", shipment_legacy),
        legacy_id=shipment_legacy,
        order_id=sh.id,
        warehouse_id=world.shiphero_warehouse_id,
        created_date=world.clock,
        updated_at=world.clock,
        line_items=line_items,
        labels=[
            ShipHeroShippingLabel(
                id=relay_id("ShippingLabel", label_legacy),
                legacy_id=label_legacy,
                tracking_number=number,
                carrier=carrier.shiphero,
                shipping_name=sh.shipping_title,
                shipping_method=sh.shipping_method,
                cost=650 + (label_legacy % 9) * 110,
                status="valid",
                created_date=world.clock,
            )
        ],
    )
    world.shiphero_shipments.add(shipment)
    world.shipments_by_order.setdefault(sh.id, []).append(shipment)
    by_id = {li.id: li for li in sh.line_items}
    for li_id, qty in line_items:
        by_id[li_id].quantity_shipped += qty
        by_id[li_id].fulfillment_status = "fulfilled" if by_id[li_id].quantity_shipped >= by_id[li_id].quantity else "pending"
    sh.fulfillment_status = (
        "fulfilled" if all(li.quantity_shipped >= li.quantity for li in sh.line_items) else "partially_fulfilled"
    )
    touch_shiphero_order(world, sh)
    for li_id, qty in line_items:
        adjust_stock(world, by_id[li_id].sku, on_hand=-qty, allocated=-qty)
    create_tracker(world, number, carrier.shiphero, shipment.id)
    if sync_shopify:
        if shopify_line_items is None:
            partner = {li.id: int(li.partner_line_item_id) for li in sh.line_items if li.partner_line_item_id.isdigit()}
            shopify_line_items = [(partner[li_id], qty) for li_id, qty in line_items if li_id in partner]
        shopify_fulfill(world, order, [(number, carrier.shiphero)], shopify_line_items)
    if sync_stripe:
        for pi in linked_stripe_intents(world, order):
            add_stripe_tracking(world, pi, carrier.shiphero, number)
    if sync_paypal:
        for capture in linked_paypal_captures(world, order):
            add_paypal_tracker(world, capture, carrier.shiphero, number)
    return shipment


def add_stripe_tracking(world: World, pi: StripePaymentIntent, carrier: str, number: str) -> None:
    """What a Stripe shipping update does: append the number to the charge's comma-separated list."""
    charge = world.stripe_charges.get(pi.latest_charge)
    if charge is None or charge.status != "succeeded":
        return
    shipping = charge.shipping or StripeShipping(name="", address=Address("", "", "", None, "", None, None, "", "", ""))
    previous = {"shipping": {"carrier": shipping.carrier, "tracking_number": shipping.tracking_number}}
    numbers = [n for n in (shipping.tracking_number or "").split(",") if n]
    if number not in numbers:
        numbers.append(number)
    # A new object, not an in-place change: earlier events' snapshots share the old one.
    charge.shipping = replace(shipping, carrier=CARRIERS[carrier].stripe, tracking_number=",".join(numbers))
    stripe_event(world, "charge.updated", charge, previous)


def add_paypal_tracker(world: World, capture: PayPalCapture, carrier: str, number: str) -> PayPalTracker:
    tracker = PayPalTracker(
        transaction_id=capture.id,
        tracking_number=number,
        carrier=CARRIERS[carrier].paypal,
        status="SHIPPED",
        create_time=world.clock,
        update_time=world.clock,
        order_id=capture.order_id,
    )
    world.paypal_trackers.add(tracker)
    return tracker


# ------------------------------------------------------------------------------------------ tracking
TRACKER_MESSAGES = {
    "pre_transit": "Shipping label created, package not yet handed to the carrier",
    "in_transit": "Departed facility",
    "out_for_delivery": "Out for delivery",
    "delivered": "Delivered, front door",
    "available_for_pickup": "Available for pickup at the post office",
    "return_to_sender": "Returned to sender: addressee unknown",
    "failure": "Delivery attempt failed: address not found",
    "error": "Carrier reported an error",
    "cancelled": "Label cancelled",
    "unknown": "No information from the carrier",
}


def create_tracker(world: World, number: str, carrier: str, shipment_id: str | None = None) -> Tracker:
    tracker = Tracker(
        id="trk_" + _token(world, f"trk{number}", 32, "0123456789abcdef"),
        tracking_code=number,
        carrier=CARRIERS[carrier].easypost,
        status="pre_transit",
        created_at=world.clock,
        updated_at=world.clock,
        details=[TrackingDetail("pre_transit", TRACKER_MESSAGES["pre_transit"], world.clock)],
        est_delivery_date=world.clock + timedelta(days=4),
        shipment_id=shipment_id,
        weight=12.0,
    )
    world.trackers.add(tracker)
    world.trackers_by_code[number] = tracker
    return tracker


def tracker_update(world: World, number: str, status: str) -> None:
    """The carrier scans the package: the tracker gets a new status and a tracking detail."""
    tracker = world.trackers_by_code[number]
    tracker.status = status
    tracker.updated_at = world.clock
    tracker.details.append(TrackingDetail(status, TRACKER_MESSAGES[status], world.clock))
    if status == "delivered":
        tracker.signed_by = "FRONT DOOR"
    world.changed()


# --------------------------------------------------------------------------------------------- clock
ACTIONS: dict[str, Callable[..., None]] = {}


def action(fn: Callable[..., None]) -> Callable[..., None]:
    """Register a function the event queue may call by name (names survive across seeds and runs)."""
    ACTIONS[fn.__name__] = fn
    return fn


def advance(world: World, delta: timedelta) -> int:
    """Move the clock forward by `delta`: new orders arrive and every scheduled event on the way happens."""
    target = world.clock + delta
    if world.on_advance is not None:
        world.on_advance(world, world.clock, target)
    return run_until(world, target)


def run_until(world: World, target) -> int:
    applied = 0
    for event in world.due_events(target):
        world.clock = max(world.clock, event.at)
        ACTIONS[event.action](world, *event.args)
        applied += 1
    world.clock = target
    world.changed()
    return applied
