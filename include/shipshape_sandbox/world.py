"""The sandbox's state: what each of the five systems currently holds, as compact records.

Every system keeps its own copy of the facts (Shopify's address, ShipHero's address, ...), because the
whole point of the sandbox is that the copies can disagree. The API modules render these records into
each real service's wire format; `truth` judges them against SPEC.md. Money is held in integer minor
units (cents) and times as aware UTC datetimes; renderers convert to each API's own conventions.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")


def cents_to_str(cents: int) -> str:
    """Render minor units as the decimal string Shopify and PayPal use ("12.30")."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, second precision, as Shopify, PayPal and EasyPost render times."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------- shared
@dataclass(slots=True)
class Address:
    first_name: str
    last_name: str
    address1: str
    address2: str | None
    city: str
    province: str | None
    province_code: str | None
    zip: str
    country: str
    country_code: str
    phone: str | None = None
    company: str | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


# -------------------------------------------------------------------------------------------- Shopify
@dataclass(slots=True)
class ShopifyLineItem:
    id: int
    product_id: int
    variant_id: int
    sku: str | None
    title: str
    variant_title: str | None
    quantity: int  # as ordered
    current_quantity: int  # after edits and removals
    unit_price: int  # cents
    requires_shipping: bool = True


@dataclass(slots=True)
class ShopifyTrackingInfo:
    number: str
    company: str | None
    url: str | None


@dataclass(slots=True)
class ShopifyFulfillment:
    id: int
    created_at: datetime
    updated_at: datetime
    status: str  # SUCCESS | CANCELLED
    tracking: list[ShopifyTrackingInfo]
    line_items: list[tuple[int, int]]  # (line item id, quantity)


@dataclass(slots=True)
class ShopifyTransaction:
    id: int
    kind: str  # AUTHORIZATION | CAPTURE | SALE | VOID | REFUND
    status: str  # SUCCESS | FAILURE | PENDING | ERROR
    gateway: str  # stripe | paypal | manual
    amount: int  # cents, in the order currency
    currency: str
    reference: str | None  # the gateway's id: PaymentIntent id (Stripe), capture id (PayPal)
    created_at: datetime
    parent_id: int | None = None


@dataclass(slots=True)
class ShopifyShippingLine:
    code: str
    title: str
    price: int  # cents
    source: str = "shopify"


@dataclass(slots=True)
class ShopifyOrder:
    id: int
    name: str  # "#1001"
    created_at: datetime
    updated_at: datetime
    currency: str
    email: str
    shipping_address: Address | None
    shipping_line: ShopifyShippingLine | None
    line_items: list[ShopifyLineItem]
    fulfillments: list[ShopifyFulfillment] = field(default_factory=list)
    transactions: list[ShopifyTransaction] = field(default_factory=list)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None  # CUSTOMER | FRAUD | INVENTORY | DECLINED | OTHER | STAFF
    closed_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def legacy_resource_id(self) -> int:
        return self.id

    @property
    def gid(self) -> str:
        return f"gid://shopify/Order/{self.id}"

    def subtotal(self, current: bool = False) -> int:
        return sum(li.unit_price * (li.current_quantity if current else li.quantity) for li in self.line_items)

    def total(self, current: bool = False) -> int:
        """Total price (no taxes or discounts in the sandbox's merchant): items plus shipping."""
        shipping = self.shipping_line.price if self.shipping_line else 0
        return self.subtotal(current) + shipping

    def received(self) -> int:
        return sum(t.amount for t in self.transactions if t.status == "SUCCESS" and t.kind in ("SALE", "CAPTURE"))

    def refunded(self) -> int:
        return sum(t.amount for t in self.transactions if t.status == "SUCCESS" and t.kind == "REFUND")

    def authorized_uncaptured(self) -> int:
        auths = [t for t in self.transactions if t.status == "SUCCESS" and t.kind == "AUTHORIZATION"]
        captured_or_voided = {
            t.parent_id for t in self.transactions if t.status == "SUCCESS" and t.kind in ("CAPTURE", "VOID")
        }
        return sum(t.amount for t in auths if t.id not in captured_or_voided)

    def display_financial_status(self) -> str:
        """Shopify's OrderDisplayFinancialStatus, derived from the transactions as Shopify does."""
        received, refunded = self.received(), self.refunded()
        if received > 0:
            if refunded >= received:
                return "REFUNDED"
            if refunded > 0:
                return "PARTIALLY_REFUNDED"
            if received < self.total(current=True):
                return "PARTIALLY_PAID"
            return "PAID"
        if self.authorized_uncaptured() > 0:
            return "AUTHORIZED"
        if any(t.kind == "VOID" and t.status == "SUCCESS" for t in self.transactions):
            return "VOIDED"
        return "PENDING"

    def fulfilled_quantities(self) -> dict[int, int]:
        done: dict[int, int] = {}
        for f in self.fulfillments:
            if f.status != "SUCCESS":
                continue
            for li_id, qty in f.line_items:
                done[li_id] = done.get(li_id, 0) + qty
        return done

    def display_fulfillment_status(self) -> str:
        """Shopify's OrderDisplayFulfillmentStatus: FULFILLED, PARTIALLY_FULFILLED or UNFULFILLED."""
        needed = {li.id: li.current_quantity for li in self.line_items if li.requires_shipping and li.current_quantity > 0}
        if not needed:
            return "FULFILLED" if any(f.status == "SUCCESS" for f in self.fulfillments) else "UNFULFILLED"
        done = self.fulfilled_quantities()
        if all(done.get(li_id, 0) >= qty for li_id, qty in needed.items()):
            return "FULFILLED"
        if any(done.get(li_id, 0) > 0 for li_id in needed):
            return "PARTIALLY_FULFILLED"
        return "UNFULFILLED"


@dataclass(slots=True)
class ShopifyLocation:
    id: int
    name: str
    fulfillment_service_handle: str | None  # "shiphero" for the locations ShipHero fulfils
    is_active: bool = True


@dataclass(slots=True)
class ShopifyInventoryItem:
    id: int
    sku: str
    variant_id: int
    product_id: int
    product_title: str
    variant_title: str
    unit_price: int  # cents, USD list price; converted per order currency by the generator
    tracked: bool = True
    updated_at: datetime | None = None


@dataclass(slots=True)
class ShopifyInventoryLevel:
    inventory_item_id: int
    location_id: int
    available: int
    on_hand: int
    updated_at: datetime


@dataclass(slots=True)
class ShopifyBulkOperation:
    id: str
    query: str
    status: str  # CREATED | RUNNING | COMPLETED | FAILED | CANCELED
    created_at: datetime
    completed_at: datetime | None = None
    object_count: int = 0
    file_size: int = 0
    result: bytes | None = None  # the JSONL, served from /shopify/_bulk/<id>.jsonl
    error_code: str | None = None


# --------------------------------------------------------------------------------------------- Stripe
@dataclass(slots=True)
class StripeShipping:
    name: str
    address: Address
    carrier: str | None = None
    tracking_number: str | None = None  # comma-separated when several
    phone: str | None = None


@dataclass(slots=True)
class StripePaymentIntent:
    id: str
    created: int  # epoch seconds
    amount: int
    currency: str  # lower case, as Stripe
    status: str  # requires_payment_method | requires_capture | processing | succeeded | canceled
    capture_method: str  # automatic | manual
    amount_capturable: int = 0
    amount_received: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    latest_charge: str | None = None
    description: str | None = None
    customer: str | None = None
    receipt_email: str | None = None
    shipping: StripeShipping | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    last_payment_error_code: str | None = None
    updated: int = 0  # internal: last change, for the events feed and incremental reads


@dataclass(slots=True)
class StripeCharge:
    id: str
    created: int
    amount: int
    currency: str
    status: str  # succeeded | pending | failed
    payment_intent: str | None
    captured: bool
    amount_captured: int = 0
    amount_refunded: int = 0
    paid: bool = False
    disputed: bool = False
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    billing_name: str | None = None
    receipt_email: str | None = None
    shipping: StripeShipping | None = None
    balance_transaction: str | None = None
    updated: int = 0

    @property
    def refunded(self) -> bool:
        return self.amount_captured > 0 and self.amount_refunded >= self.amount_captured


@dataclass(slots=True)
class StripeRefund:
    id: str
    created: int
    amount: int
    currency: str
    charge: str
    payment_intent: str | None
    status: str  # pending | succeeded | failed | canceled
    reason: str | None = None  # duplicate | fraudulent | requested_by_customer
    metadata: dict[str, str] = field(default_factory=dict)
    updated: int = 0


@dataclass(slots=True)
class StripeDispute:
    id: str
    created: int
    amount: int
    currency: str
    charge: str
    payment_intent: str | None
    status: str  # warning_needs_response | needs_response | under_review | won | lost ...
    reason: str  # fraudulent | product_not_received | ...
    updated: int = 0


@dataclass(slots=True)
class StripeEvent:
    id: str
    created: int
    type: str  # e.g. charge.updated, payment_intent.succeeded
    object_kind: str  # payment_intent | charge | refund | dispute
    snapshot: Any  # a copy of the record as it was when the event happened
    previous_attributes: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------- PayPal
@dataclass(slots=True)
class PayPalOrder:
    id: str
    status: str  # CREATED | APPROVED | COMPLETED | VOIDED
    intent: str  # CAPTURE | AUTHORIZE
    create_time: datetime
    update_time: datetime
    currency: str
    amount: int
    invoice_id: str | None
    custom_id: str | None
    reference_id: str
    payer_email: str
    payer_id: str
    shipping_address: Address | None
    capture_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PayPalCapture:
    id: str
    order_id: str
    status: str  # COMPLETED | DECLINED | PARTIALLY_REFUNDED | REFUNDED | PENDING | FAILED
    amount: int
    currency: str
    fee: int
    create_time: datetime
    update_time: datetime
    invoice_id: str | None = None
    custom_id: str | None = None
    refund_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PayPalRefund:
    id: str
    capture_id: str
    amount: int
    currency: str
    status: str  # COMPLETED | PENDING | FAILED
    create_time: datetime
    update_time: datetime
    invoice_id: str | None = None


@dataclass(slots=True)
class PayPalTracker:
    transaction_id: str  # the capture id
    tracking_number: str
    carrier: str  # PayPal carrier enum, e.g. UPS, FEDEX, USPS, DHL
    status: str  # SHIPPED | ON_HOLD | DELIVERED | CANCELLED
    create_time: datetime
    update_time: datetime
    order_id: str | None = None
    notify_payer: bool = False

    @property
    def id(self) -> str:
        return f"{self.transaction_id}-{self.tracking_number}"


# ------------------------------------------------------------------------------------------- ShipHero
@dataclass(slots=True)
class ShipHeroHolds:
    payment_hold: bool = False
    operator_hold: bool = False
    fraud_hold: bool = False
    address_hold: bool = False
    client_hold: bool = False


@dataclass(slots=True)
class ShipHeroLineItem:
    id: str  # Relay id
    legacy_id: int
    sku: str
    partner_line_item_id: str
    product_name: str
    quantity: int
    price: int  # cents
    quantity_shipped: int = 0
    fulfillment_status: str = "pending"


@dataclass(slots=True)
class ShipHeroOrder:
    id: str  # Relay id, base64("Order:<legacy_id>")
    legacy_id: int
    order_number: str
    partner_order_id: str
    shop_name: str
    fulfillment_status: str  # pending | fulfilled | partially_fulfilled | canceled | on_hold
    order_date: datetime
    updated_at: datetime
    currency: str
    email: str
    shipping_address: Address
    shipping_carrier: str
    shipping_method: str  # the 3PL's method code, compared with Shopify's mapped shipping line code
    shipping_title: str
    shipping_price: int
    line_items: list[ShipHeroLineItem]
    holds: ShipHeroHolds = field(default_factory=ShipHeroHolds)
    total_price: int = 0
    cancelled_at: datetime | None = None


@dataclass(slots=True)
class ShipHeroShippingLabel:
    id: str
    legacy_id: int
    tracking_number: str
    carrier: str  # ups | fedex | usps | dhl ...
    shipping_name: str
    shipping_method: str
    cost: int
    status: str  # valid | voided
    created_date: datetime


@dataclass(slots=True)
class ShipHeroShipment:
    id: str
    legacy_id: int
    order_id: str  # ShipHero order Relay id
    warehouse_id: str
    created_date: datetime
    updated_at: datetime
    line_items: list[tuple[str, int]]  # (ShipHero line item id, quantity)
    labels: list[ShipHeroShippingLabel]
    shipped_off_shiphero: bool = False


@dataclass(slots=True)
class ShipHeroWarehouseProduct:
    id: str
    sku: str
    warehouse_id: str
    on_hand: int
    allocated: int
    reserve: int
    backorder: int
    updated_at: datetime

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated - self.reserve


# ------------------------------------------------------------------------------------------- Tracking
@dataclass(slots=True)
class TrackingDetail:
    status: str
    message: str
    datetime: datetime
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip: str | None = None


@dataclass(slots=True)
class Tracker:
    id: str  # trk_...
    tracking_code: str
    carrier: str  # EasyPost carrier name: UPS, FedEx, USPS, DHLExpress
    status: str  # pre_transit | in_transit | out_for_delivery | delivered | available_for_pickup |
    #              return_to_sender | failure | cancelled | error | unknown
    created_at: datetime
    updated_at: datetime
    details: list[TrackingDetail] = field(default_factory=list)
    status_detail: str | None = None
    est_delivery_date: datetime | None = None
    signed_by: str | None = None
    weight: float | None = None
    shipment_id: str | None = None


# --------------------------------------------------------------------------------------------- tables
T = TypeVar("T")


class Table(Generic[T]):
    """Records of one kind by id, with sorted views cached until the world next changes.

    APIs list by update time or creation time thousands of times per run; sorting 100k records on
    every page would dominate, so a view is sorted once per world revision.
    """

    __slots__ = ("_rows", "_world", "_views", "_key", "_key_name")

    def __init__(self, world: World, key: str = "id") -> None:
        self._rows: dict[Any, T] = {}
        self._world = world
        self._views: dict[tuple, tuple[int, list[T]]] = {}
        self._key = attrgetter(key)
        self._key_name = key

    def add(self, row: T) -> T:
        self._rows[self._key(row)] = row
        self._world.changed()
        return row

    def get(self, key: Any) -> T | None:
        return self._rows.get(key)

    def remove(self, key: Any) -> None:
        self._rows.pop(key, None)
        self._world.changed()

    def __contains__(self, key: Any) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows.values())

    def values(self) -> Iterable[T]:
        return self._rows.values()

    def sorted_by(self, *attrs: str, reverse: bool = False) -> list[T]:
        """All rows ordered by the given attributes (ties broken by the row key); cached per revision."""
        view_key = (attrs, reverse)
        cached = self._views.get(view_key)
        if cached is not None and cached[0] == self._world.revision:
            return cached[1]
        getter = attrgetter(*attrs, *(() if self._key_name in attrs else (self._key_name,)))
        rows = sorted(self._rows.values(), key=getter, reverse=reverse)
        self._views[view_key] = (self._world.revision, rows)
        return rows


class ScheduledEvent(NamedTuple):
    """Something the world will do by itself when its clock passes `at` (a package moves, ...).

    A tuple, so the heap compares (at, seq) natively: 100k orders queue about a million events."""

    at: datetime
    seq: int
    action: str  # name of a function registered with `lifecycle.action`
    args: tuple = ()


class World:
    """Everything the five systems hold, plus the clock and the queue of things yet to happen."""

    def __init__(self, clock: datetime, seed: int = 0) -> None:
        self.clock = clock
        self.seed = seed
        self.revision = 0
        self._next_id: dict[str, int] = {}
        self._queue: list[ScheduledEvent] = []
        self._seq = 0
        # Shopify
        self.shopify_orders: Table[ShopifyOrder] = Table(self)
        self.shopify_locations: Table[ShopifyLocation] = Table(self)
        self.shopify_inventory_items: Table[ShopifyInventoryItem] = Table(self)
        self.shopify_inventory_levels: dict[tuple[int, int], ShopifyInventoryLevel] = {}
        self.shopify_bulk_operations: Table[ShopifyBulkOperation] = Table(self)
        # Stripe
        self.stripe_payment_intents: Table[StripePaymentIntent] = Table(self)
        self.stripe_charges: Table[StripeCharge] = Table(self)
        self.stripe_refunds: Table[StripeRefund] = Table(self)
        self.stripe_disputes: Table[StripeDispute] = Table(self)
        self.stripe_events: Table[StripeEvent] = Table(self)
        # PayPal
        self.paypal_orders: Table[PayPalOrder] = Table(self)
        self.paypal_captures: Table[PayPalCapture] = Table(self)
        self.paypal_refunds: Table[PayPalRefund] = Table(self)
        self.paypal_trackers: Table[PayPalTracker] = Table(self)
        # ShipHero
        self.shiphero_orders: Table[ShipHeroOrder] = Table(self)
        self.shiphero_shipments: Table[ShipHeroShipment] = Table(self)
        self.shiphero_products: Table[ShipHeroWarehouseProduct] = Table(self, key="sku")
        self.shiphero_warehouse_id = "V2FyZWhvdXNlOjEwMDE="  # base64("Warehouse:1001")
        # Tracking
        self.trackers: Table[Tracker] = Table(self)
        # Settings the truth is judged with (SPEC.md defaults); the shipping-method map mirrors dbt's seed.
        self.settings: dict[str, Any] = {
            "amount_tolerance_cents": 1,
            "missing_in_3pl_grace_hours": 1,
            "ship_sla_hours": 72,
            "inventory_tolerance": 0,
            "ship_on_authorization": True,
        }
        self.shipping_method_map: dict[str, str] = {}
        # Indexes the lifecycle keeps (the merchant's integrations know which record is whose; the truth
        # does not use these and links records by their ids the way SPEC.md says).
        self.integration_links: dict[int, str] = {}  # Shopify order id -> ShipHero order id
        self.shipments_by_order: dict[str, list[ShipHeroShipment]] = {}  # ShipHero order id -> shipments
        self.trackers_by_code: dict[str, Tracker] = {}
        self.inventory_item_by_sku: dict[str, int] = {}
        self.order_payments: dict[int, list[str]] = {}  # Shopify order id -> PaymentIntent / capture ids
        # SKUs whose ShipHero -> Shopify stock sync is broken, and by how much (cleared by a correction).
        self.inventory_offsets: dict[str, int] = {}
        self.plans: dict[int, Any] = {}  # Shopify order id -> the generator's plan for it
        self.config: Any = None  # the generator's WorldConfig
        self.catalog: list[ShopifyInventoryItem] = []  # what customers can order
        self.arrival_carry = 0.0  # fractional orders carried between `advance` calls
        self.orders_queued = 0
        self.orphans_queued = 0
        # Set by the generator: called by `advance` to add the orders that arrive in (start, end].
        self.on_advance: Any = None
        # Store activity per unit of clock time: 1 normally; a live sandbox at --speed 60 sets 60, so an
        # hour of orders arrives per clock minute and every delay the world schedules is 60 times shorter.
        self.pace = 1.0

    # --- bookkeeping
    def changed(self) -> None:
        self.revision += 1

    def next_id(self, kind: str, start: int = 1) -> int:
        value = self._next_id.get(kind, start)
        self._next_id[kind] = value + 1
        return value

    # --- the world's own future
    def schedule(self, at: datetime, action: str, *args: Any) -> None:
        """Run `action` after the delay `at - clock`, shortened by the world's pace."""
        if self.pace != 1.0 and at > self.clock:
            at = self.clock + (at - self.clock) / self.pace
        self.schedule_exactly(at, action, *args)

    def schedule_exactly(self, at: datetime, action: str, *args: Any) -> None:
        """Run `action` at `at`, whatever the pace (arrivals spread over an interval already paced)."""
        self._seq += 1
        heapq.heappush(self._queue, ScheduledEvent(at, self._seq, action, args))

    def due_events(self, until: datetime) -> Iterable[ScheduledEvent]:
        """Pop, in time order, every scheduled event at or before `until` (events may schedule more)."""
        while self._queue and self._queue[0].at <= until:
            yield heapq.heappop(self._queue)

    def pending_events(self) -> int:
        return len(self._queue)

