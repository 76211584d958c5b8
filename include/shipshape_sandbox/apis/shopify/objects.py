"""The GraphQL objects over the sandbox world: orders, line items, transactions, fulfillments,
fulfillment orders, locations, inventory items and levels, bulk operations (the resolvers of their fields).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.shopify.common import GATEWAY_NAMES, SHOP_EPOCH, _gid_number, bag, gid, parse_gid
from shipshape_sandbox.apis.shopify.pagination import View, list_view, paginate
from shipshape_sandbox.world import iso

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.apis.shopify.pagination import Connection
    from shipshape_sandbox.apis.shopify.state import Ctx, ShopifyApi
    from shipshape_sandbox.world import (
        ShopifyFulfillment,
        ShopifyInventoryLevel,
        ShopifyLineItem,
        ShopifyLocation,
        ShopifyOrder,
        ShopifyTransaction,
    )


# ---------------------------------------------------------------------------------------- objects
class Obj:
    """Base of the resolver objects: graphql-core reads attributes, calling methods with (info, **args)."""

    __slots__ = ("ctx", "r")

    def __init__(self, ctx: Ctx, record: Any) -> None:
        self.ctx = ctx
        self.r = record


class MailingAddressObj(Obj):
    __slots__ = ("owner",)

    def __init__(self, ctx: Ctx, record: Any, owner: int) -> None:
        super().__init__(ctx, record)
        self.owner = owner

    @property
    def id(self) -> str:
        return gid("MailingAddress", self.owner, "?model_name=Address")

    address1 = property(lambda self: self.r.address1)
    address2 = property(lambda self: self.r.address2)
    city = property(lambda self: self.r.city)
    company = property(lambda self: self.r.company)
    coordinatesValidated = property(lambda self: False)  # noqa: N815
    country = property(lambda self: self.r.country)
    countryCodeV2 = property(lambda self: self.r.country_code)  # noqa: N815
    firstName = property(lambda self: self.r.first_name)  # noqa: N815
    lastName = property(lambda self: self.r.last_name)  # noqa: N815
    name = property(lambda self: self.r.name)
    phone = property(lambda self: self.r.phone)
    province = property(lambda self: self.r.province)
    provinceCode = property(lambda self: self.r.province_code)  # noqa: N815
    zip = property(lambda self: self.r.zip)
    latitude = property(lambda self: None)
    longitude = property(lambda self: None)
    timeZone = property(lambda self: None)  # noqa: N815

    @property
    def formattedArea(self) -> str | None:  # noqa: N802
        parts = [self.r.city, self.r.province_code or self.r.province, self.r.country]
        return ", ".join(p for p in parts if p) or None


def _fulfilled(order: ShopifyOrder) -> dict[int, int]:
    return order.fulfilled_quantities()


def _order_location_gateways(order: ShopifyOrder) -> list[str]:
    seen: list[str] = []
    for txn in order.transactions:
        if txn.gateway not in seen:
            seen.append(txn.gateway)
    return seen


class OrderObj(Obj):
    __slots__ = ()

    @property
    def id(self) -> str:
        return self.r.gid

    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    name = property(lambda self: self.r.name)
    email = property(lambda self: self.r.email)
    phone = property(lambda self: None)
    note = property(lambda self: self.r.note)
    tags = property(lambda self: list(self.r.tags))
    test = property(lambda self: False)
    confirmed = property(lambda self: True)
    taxesIncluded = property(lambda self: False)  # noqa: N815
    sourceName = property(lambda self: "web")  # noqa: N815
    createdAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at))  # noqa: N815
    processedAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    cancelledAt = property(lambda self: iso(self.r.cancelled_at))  # noqa: N815
    cancelReason = property(lambda self: self.r.cancel_reason if self.r.cancelled_at else None)  # noqa: N815
    closedAt = property(lambda self: iso(self.r.closed_at))  # noqa: N815
    closed = property(lambda self: self.r.closed_at is not None)
    currencyCode = property(lambda self: self.r.currency)  # noqa: N815
    presentmentCurrencyCode = property(lambda self: self.r.currency)  # noqa: N815
    displayFinancialStatus = property(lambda self: self.r.display_financial_status())  # noqa: N815
    displayFulfillmentStatus = property(lambda self: self.r.display_fulfillment_status())  # noqa: N815
    paymentGatewayNames = property(lambda self: _order_location_gateways(self.r))  # noqa: N815

    def _bag(self, cents: int) -> dict:
        return bag(cents, self.r.currency)

    totalPriceSet = property(lambda self: self._bag(self.r.total()))  # noqa: N815
    originalTotalPriceSet = property(lambda self: self._bag(self.r.total()))  # noqa: N815
    currentTotalPriceSet = property(lambda self: self._bag(self.r.total(current=True)))  # noqa: N815
    subtotalPriceSet = property(lambda self: self._bag(self.r.subtotal()))  # noqa: N815
    currentSubtotalPriceSet = property(lambda self: self._bag(self.r.subtotal(current=True)))  # noqa: N815
    totalReceivedSet = property(lambda self: self._bag(self.r.received()))  # noqa: N815
    totalRefundedSet = property(lambda self: self._bag(self.r.refunded()))  # noqa: N815
    netPaymentSet = property(lambda self: self._bag(self.r.received() - self.r.refunded()))  # noqa: N815
    totalCapturableSet = property(lambda self: self._bag(self.r.authorized_uncaptured()))  # noqa: N815
    capturable = property(lambda self: self.r.authorized_uncaptured() > 0)
    totalShippingPriceSet = property(  # noqa: N815
        lambda self: self._bag(self.r.shipping_line.price if self.r.shipping_line else 0))

    @property
    def totalOutstandingSet(self) -> dict:  # noqa: N802
        return self._bag(self.r.total(current=True) - (self.r.received() - self.r.refunded()))

    fullyPaid = property(  # noqa: N815
        lambda self: self.r.received() - self.r.refunded() >= self.r.total(current=True) and self.r.received() > 0)
    unpaid = property(lambda self: self.r.received() == 0)
    requiresShipping = property(lambda self: any(li.requires_shipping for li in self.r.line_items))  # noqa: N815
    subtotalLineItemsQuantity = property(lambda self: sum(li.quantity for li in self.r.line_items))  # noqa: N815
    currentSubtotalLineItemsQuantity = property(  # noqa: N815
        lambda self: sum(li.current_quantity for li in self.r.line_items))

    @property
    def fulfillable(self) -> bool:
        done = _fulfilled(self.r)
        return self.r.cancelled_at is None and any(
            li.requires_shipping and li.current_quantity > done.get(li.id, 0) for li in self.r.line_items)

    @property
    def shippingAddress(self) -> MailingAddressObj | None:  # noqa: N802
        address = self.r.shipping_address
        return MailingAddressObj(self.ctx, address, self.r.id) if address is not None else None

    @property
    def shippingLine(self) -> ShippingLineObj | None:  # noqa: N802
        return ShippingLineObj(self.ctx, self.r) if self.r.shipping_line is not None else None

    def shippingLines(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        rows = [self.r] if self.r.shipping_line is not None else []
        view = View(rows, [(self.r.id, self.r.id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda o: ShippingLineObj(self.ctx, o))

    def lineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        return paginate(self.ctx, info, list_view(self.r.line_items), args, lambda li: LineItemObj(self.ctx, (self.r, li)))

    def fulfillments(self, info: Any, first: int | None = None) -> list:
        items = self.r.fulfillments[:first] if first is not None else self.r.fulfillments
        return [FulfillmentObj(self.ctx, (self.r, f)) for f in items]

    def transactions(self, info: Any, first: int | None = None, capturable: bool | None = None,
                     manuallyResolvable: bool | None = None) -> list:  # noqa: N803
        txns = list(self.r.transactions)
        if capturable:
            txns = [t for t in txns if _capturable(self.r, t)]
        if first is not None:
            txns = txns[:first]
        return [TransactionObj(self.ctx, (self.r, t)) for t in txns]

    def fulfillmentOrders(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        fo = FulfillmentOrderModel.of(self.ctx.api, self.r)
        rows = [fo] if fo is not None else []
        view = View(rows, [(self.r.id, self.r.id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda m: FulfillmentOrderObj(self.ctx, m))


def _capturable(order: ShopifyOrder, txn: ShopifyTransaction) -> bool:
    if txn.kind != "AUTHORIZATION" or txn.status != "SUCCESS":
        return False
    return not any(t.parent_id == txn.id and t.status == "SUCCESS" and t.kind in ("CAPTURE", "VOID")
                   for t in order.transactions)


class ShippingLineObj(Obj):
    __slots__ = ()

    @property
    def _line(self) -> Any:
        return self.r.shipping_line

    id = property(lambda self: gid("ShippingLine", self.r.id))
    code = property(lambda self: self._line.code)
    title = property(lambda self: self._line.title)
    source = property(lambda self: self._line.source)
    carrierIdentifier = property(lambda self: None)  # noqa: N815
    custom = property(lambda self: False)
    deliveryCategory = property(lambda self: None)  # noqa: N815
    phone = property(lambda self: None)
    isRemoved = property(lambda self: False)  # noqa: N815
    originalPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815
    discountedPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815
    currentDiscountedPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815


class LineItemObj(Obj):
    """A line item: `r` is (order, line item)."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem:
        return self.r[1]

    def _bag(self, cents: int) -> dict:
        return bag(cents, self.r[0].currency)

    id = property(lambda self: gid("LineItem", self._li.id))
    sku = property(lambda self: self._li.sku)
    title = property(lambda self: self._li.title)
    variantTitle = property(lambda self: self._li.variant_title)  # noqa: N815
    quantity = property(lambda self: self._li.quantity)
    currentQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    refundableQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    nonFulfillableQuantity = property(lambda self: self._li.quantity - self._li.current_quantity)  # noqa: N815
    requiresShipping = property(lambda self: self._li.requires_shipping)  # noqa: N815
    isGiftCard = property(lambda self: False)  # noqa: N815
    merchantEditable = property(lambda self: self.r[0].cancelled_at is None)  # noqa: N815
    restockable = property(lambda self: True)
    taxable = property(lambda self: True)
    vendor = property(lambda self: None)
    originalUnitPriceSet = property(lambda self: self._bag(self._li.unit_price))  # noqa: N815
    originalTotalSet = property(lambda self: self._bag(self._li.unit_price * self._li.quantity))  # noqa: N815
    totalDiscountSet = property(lambda self: self._bag(0))  # noqa: N815

    @property
    def name(self) -> str:
        li = self._li
        return f"{li.title} - {li.variant_title}" if li.variant_title else li.title

    def discountedTotalSet(self, info: Any, withCodeDiscounts: bool = False) -> dict:  # noqa: N802, N803
        return self._bag(self._li.unit_price * self._li.quantity)

    @property
    def unfulfilledQuantity(self) -> int:  # noqa: N802
        return max(0, self._li.current_quantity - _fulfilled(self.r[0]).get(self._li.id, 0))

    fulfillableQuantity = unfulfilledQuantity  # noqa: N815

    @property
    def unfulfilledOriginalTotalSet(self) -> dict:  # noqa: N802
        return self._bag(self._li.unit_price * self.unfulfilledQuantity)

    @property
    def fulfillmentStatus(self) -> str:  # noqa: N802
        done = _fulfilled(self.r[0]).get(self._li.id, 0)
        if done >= self._li.current_quantity > 0 or (done and done >= self._li.quantity):
            return "fulfilled"
        return "partial" if done > 0 else "unfulfilled"

    @property
    def fulfillmentService(self) -> FulfillmentServiceObj | None:  # noqa: N802
        loc = self.ctx.api.fulfilling_location()
        return FulfillmentServiceObj(self.ctx, loc) if loc is not None and loc.fulfillment_service_handle else None

    @property
    def variant(self) -> VariantObj | None:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return VariantObj(self.ctx, item) if item is not None else None

    @property
    def product(self) -> ProductObj:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return ProductObj(self.ctx, (self._li.product_id, item.product_title if item else self._li.title))


class ProductObj(Obj):
    """`r` is (product id, title)."""

    __slots__ = ()
    id = property(lambda self: gid("Product", self.r[0]))
    legacyResourceId = property(lambda self: str(self.r[0]))  # noqa: N815
    title = property(lambda self: self.r[1])


class VariantObj(Obj):
    """A product variant, known through its inventory item (`r`)."""

    __slots__ = ()
    id = property(lambda self: gid("ProductVariant", self.r.variant_id))
    legacyResourceId = property(lambda self: str(self.r.variant_id))  # noqa: N815
    sku = property(lambda self: self.r.sku)
    title = property(lambda self: self.r.variant_title)
    displayName = property(lambda self: f"{self.r.product_title} - {self.r.variant_title}")  # noqa: N815
    inventoryItem = property(lambda self: InventoryItemObj(self.ctx, self.r))  # noqa: N815
    product = property(lambda self: ProductObj(self.ctx, (self.r.product_id, self.r.product_title)))


def _receipt(txn: ShopifyTransaction) -> str:
    """The gateway's receipt, as the JSON text Shopify stores for the transaction."""
    ref = txn.reference
    if ref is None:
        return "{}"
    if txn.gateway == "stripe":
        obj = "payment_intent" if ref.startswith("pi_") else "charge" if ref.startswith("ch_") else "refund"
        return json.dumps({"id": ref, "object": obj}, separators=(",", ":"))
    if txn.gateway == "paypal":
        return json.dumps({"transaction_id": ref}, separators=(",", ":"))
    return json.dumps({"reference": ref}, separators=(",", ":"))


class TransactionObj(Obj):
    """`r` is (order, transaction)."""

    __slots__ = ()

    @property
    def _t(self) -> ShopifyTransaction:
        return self.r[1]

    id = property(lambda self: gid("OrderTransaction", self._t.id))
    kind = property(lambda self: self._t.kind)
    status = property(lambda self: self._t.status)
    gateway = property(lambda self: self._t.gateway)
    formattedGateway = property(lambda self: GATEWAY_NAMES.get(self._t.gateway, self._t.gateway.title()))  # noqa: N815
    amountSet = property(lambda self: bag(self._t.amount, self._t.currency))  # noqa: N815
    authorizationCode = property(lambda self: self._t.reference)  # noqa: N815
    receiptJson = property(lambda self: _receipt(self._t))  # noqa: N815
    createdAt = property(lambda self: iso(self._t.created_at))  # noqa: N815
    processedAt = property(lambda self: iso(self._t.created_at))  # noqa: N815
    test = property(lambda self: False)
    accountNumber = property(lambda self: None)  # noqa: N815
    authorizationExpiresAt = property(lambda self: None)  # noqa: N815
    errorCode = property(lambda self: "CARD_DECLINED" if self._t.status == "FAILURE" else None)  # noqa: N815
    manualPaymentGateway = property(lambda self: self._t.gateway == "manual")  # noqa: N815
    manuallyCapturable = property(lambda self: _capturable(self.r[0], self._t))  # noqa: N815
    multiCapturable = property(lambda self: False)  # noqa: N815
    settlementCurrency = property(lambda self: None)  # noqa: N815
    totalUnsettledSet = property(  # noqa: N815
        lambda self: bag(self._t.amount if _capturable(self.r[0], self._t) else 0, self._t.currency))
    order = property(lambda self: OrderObj(self.ctx, self.r[0]))

    @property
    def paymentId(self) -> str:  # noqa: N802
        position = next(i for i, t in enumerate(self.r[0].transactions) if t.id == self._t.id)
        return f"{self.r[0].name}.{position + 1}"

    @property
    def parentTransaction(self) -> TransactionObj | None:  # noqa: N802
        parent_id = self._t.parent_id
        if parent_id is None:
            return None
        parent = next((t for t in self.r[0].transactions if t.id == parent_id), None)
        return TransactionObj(self.ctx, (self.r[0], parent)) if parent is not None else None


class FulfillmentObj(Obj):
    """`r` is (order, fulfillment)."""

    __slots__ = ()

    @property
    def _f(self) -> ShopifyFulfillment:
        return self.r[1]

    id = property(lambda self: gid("Fulfillment", self._f.id))
    legacyResourceId = property(lambda self: str(self._f.id))  # noqa: N815
    status = property(lambda self: self._f.status)
    displayStatus = property(lambda self: "FULFILLED" if self._f.status == "SUCCESS" else "CANCELED")  # noqa: N815
    createdAt = property(lambda self: iso(self._f.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self._f.updated_at))  # noqa: N815
    deliveredAt = property(lambda self: None)  # noqa: N815
    estimatedDeliveryAt = property(lambda self: None)  # noqa: N815
    inTransitAt = property(lambda self: None)  # noqa: N815
    requiresShipping = property(lambda self: True)  # noqa: N815
    totalQuantity = property(lambda self: sum(q for _, q in self._f.line_items))  # noqa: N815
    order = property(lambda self: OrderObj(self.ctx, self.r[0]))

    @property
    def name(self) -> str:
        position = next(i for i, f in enumerate(self.r[0].fulfillments) if f.id == self._f.id)
        return f"{self.r[0].name}-F{position + 1}"

    def trackingInfo(self, info: Any, first: int | None = None) -> list:  # noqa: N802
        items = self._f.tracking[:first] if first is not None else self._f.tracking
        return [{"company": t.company, "number": t.number, "url": t.url} for t in items]

    def fulfillmentLineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        rows = [(i, li_id, qty) for i, (li_id, qty) in enumerate(self._f.line_items)]
        view = View(rows, [(self._f.id * 100 + i, self._f.id * 100 + i) for i, _, _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda row: FulfillmentLineItemObj(self.ctx, (self.r[0], self._f, row)))

    def fulfillmentOrders(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        fo = FulfillmentOrderModel.of(self.ctx.api, self.r[0])
        rows = [fo] if fo is not None else []
        view = View(rows, [(self.r[0].id, self.r[0].id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda m: FulfillmentOrderObj(self.ctx, m))

    @property
    def location(self) -> LocationObj | None:
        loc = self.ctx.api.fulfilling_location()
        return LocationObj(self.ctx, loc) if loc is not None else None

    @property
    def service(self) -> FulfillmentServiceObj | None:
        loc = self.ctx.api.fulfilling_location()
        return FulfillmentServiceObj(self.ctx, loc) if loc is not None and loc.fulfillment_service_handle else None


class FulfillmentLineItemObj(Obj):
    """`r` is (order, fulfillment, (position, line item id, quantity))."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem | None:
        return next((li for li in self.r[0].line_items if li.id == self.r[2][1]), None)

    id = property(lambda self: gid("FulfillmentLineItem", self.r[1].id * 100 + self.r[2][0]))
    quantity = property(lambda self: self.r[2][2])
    lineItem = property(lambda self: LineItemObj(self.ctx, (self.r[0], self._li)))  # noqa: N815

    @property
    def originalTotalSet(self) -> dict:  # noqa: N802
        li = self._li
        return bag((li.unit_price if li else 0) * self.r[2][2], self.r[0].currency)

    discountedTotalSet = originalTotalSet  # noqa: N815


@dataclass
class FulfillmentOrderModel:
    """The one fulfillment order the sandbox derives per order: its remaining work at one location."""

    order: ShopifyOrder
    location: ShopifyLocation | None
    remaining: dict[int, int]

    @classmethod
    def of(cls, api: ShopifyApi, order: ShopifyOrder) -> FulfillmentOrderModel | None:
        done = order.fulfilled_quantities()
        remaining = {li.id: max(0, li.current_quantity - done.get(li.id, 0))
                     for li in order.line_items if li.current_quantity > 0}
        return cls(order, api.fulfilling_location(), remaining)

    @property
    def status(self) -> str:
        if not any(self.remaining.values()) or self.order.cancelled_at is not None:
            return "CLOSED"
        if any(f.status == "SUCCESS" for f in self.order.fulfillments):
            return "IN_PROGRESS"
        return "OPEN"


class FulfillmentOrderObj(Obj):
    __slots__ = ()

    @property
    def _o(self) -> ShopifyOrder:
        return self.r.order

    id = property(lambda self: gid("FulfillmentOrder", self._o.id))
    orderId = property(lambda self: self._o.gid)  # noqa: N815
    orderName = property(lambda self: self._o.name)  # noqa: N815
    orderProcessedAt = property(lambda self: iso(self._o.created_at))  # noqa: N815
    order = property(lambda self: OrderObj(self.ctx, self._o))
    status = property(lambda self: self.r.status)
    requestStatus = property(lambda self: "UNSUBMITTED")  # noqa: N815
    createdAt = property(lambda self: iso(self._o.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self._o.updated_at))  # noqa: N815
    fulfillAt = property(  # noqa: N815
        lambda self: iso(self._o.created_at.replace(minute=0, second=0, microsecond=0)))
    fulfillBy = property(lambda self: None)  # noqa: N815
    channelId = property(lambda self: None)  # noqa: N815

    @property
    def supportedActions(self) -> list[dict]:  # noqa: N802
        actions = {"OPEN": ["CREATE_FULFILLMENT", "MOVE", "HOLD", "SPLIT"],
                   "IN_PROGRESS": ["CREATE_FULFILLMENT", "HOLD", "SPLIT"]}.get(self.r.status, [])
        return [{"action": a, "externalUrl": None} for a in actions]

    @property
    def assignedLocation(self) -> dict:  # noqa: N802
        loc = self.r.location
        return {"address1": None, "address2": None, "city": None, "countryCode": "US",
                "location": LocationObj(self.ctx, loc) if loc else None, "name": loc.name if loc else "",
                "phone": None, "province": None, "zip": None}

    def lineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        items = [li for li in self._o.line_items if li.id in self.r.remaining]
        return paginate(self.ctx, info, list_view(items), args, lambda li: FulfillmentOrderLineItemObj(self.ctx, (self.r, li)))

    def fulfillments(self, info: Any, **args: Any) -> Connection:
        return paginate(self.ctx, info, list_view(self._o.fulfillments), args,
                        lambda f: FulfillmentObj(self.ctx, (self._o, f)))


class FulfillmentOrderLineItemObj(Obj):
    """`r` is (fulfillment order model, line item)."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem:
        return self.r[1]

    id = property(lambda self: gid("FulfillmentOrderLineItem", self._li.id))
    lineItem = property(lambda self: LineItemObj(self.ctx, (self.r[0].order, self._li)))  # noqa: N815
    totalQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    remainingQuantity = property(lambda self: self.r[0].remaining.get(self._li.id, 0))  # noqa: N815
    requiresShipping = property(lambda self: self._li.requires_shipping)  # noqa: N815
    sku = property(lambda self: self._li.sku)
    productTitle = property(lambda self: self._li.title)  # noqa: N815
    variantTitle = property(lambda self: self._li.variant_title)  # noqa: N815
    vendor = property(lambda self: None)
    originalUnitPriceSet = property(lambda self: bag(self._li.unit_price, self.r[0].order.currency))  # noqa: N815

    @property
    def inventoryItemId(self) -> str | None:  # noqa: N802
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return gid("InventoryItem", item.id) if item is not None else None

    @property
    def variant(self) -> VariantObj | None:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return VariantObj(self.ctx, item) if item is not None else None


class FulfillmentServiceObj(Obj):
    """The fulfillment service behind a location (`r`)."""

    __slots__ = ()
    id = property(lambda self: gid("FulfillmentService", self.r.id, "?id=true"))
    handle = property(lambda self: self.r.fulfillment_service_handle)
    serviceName = property(lambda self: {"shiphero": "ShipHero"}.get(  # noqa: N815
        self.r.fulfillment_service_handle, self.r.fulfillment_service_handle.title()))
    callbackUrl = property(lambda self: None)  # noqa: N815
    fulfillmentOrdersOptIn = property(lambda self: True)  # noqa: N815
    inventoryManagement = property(lambda self: True)  # noqa: N815
    permitsSkuSharing = property(lambda self: True)  # noqa: N815
    trackingSupport = property(lambda self: True)  # noqa: N815
    type = property(lambda self: "THIRD_PARTY")
    location = property(lambda self: LocationObj(self.ctx, self.r))


class LocationObj(Obj):
    __slots__ = ()
    id = property(lambda self: gid("Location", self.r.id))
    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    name = property(lambda self: self.r.name)
    isActive = property(lambda self: self.r.is_active)  # noqa: N815
    isFulfillmentService = property(lambda self: self.r.fulfillment_service_handle is not None)  # noqa: N815
    activatable = property(lambda self: not self.r.is_active)
    deactivatable = property(lambda self: self.r.is_active and self.r.fulfillment_service_handle is None)
    deletable = property(lambda self: False)
    addressVerified = property(lambda self: False)  # noqa: N815
    deactivatedAt = property(lambda self: None)  # noqa: N815
    fulfillsOnlineOrders = property(lambda self: self.r.is_active)  # noqa: N815
    shipsInventory = property(lambda self: self.r.is_active)  # noqa: N815
    hasUnfulfilledOrders = property(lambda self: False)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    address = property(lambda self: {  # noqa: N815
        "address1": None, "address2": None, "city": None, "country": "United States", "countryCode": "US",
        "formatted": ["United States"], "latitude": None, "longitude": None, "phone": None, "province": None,
        "provinceCode": None, "zip": None})

    @property
    def hasActiveInventory(self) -> bool:  # noqa: N802
        return bool(self.ctx.api.index("levels_by_location").get(self.r.id))

    @property
    def fulfillmentService(self) -> FulfillmentServiceObj | None:  # noqa: N802
        return FulfillmentServiceObj(self.ctx, self.r) if self.r.fulfillment_service_handle else None

    def inventoryLevels(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        levels = self.ctx.api.index("levels_by_location").get(self.r.id, [])
        return paginate(self.ctx, info, list_view(levels, key=lambda lv: lv.inventory_item_id), args,
                        lambda lv: InventoryLevelObj(self.ctx, lv))

    def inventoryLevel(self, info: Any, inventoryItemId: str) -> InventoryLevelObj | None:  # noqa: N802, N803
        _, item_id = parse_gid(inventoryItemId)
        level = self.ctx.world.shopify_inventory_levels.get((item_id, self.r.id))
        return InventoryLevelObj(self.ctx, level) if level is not None else None


class InventoryItemObj(Obj):
    __slots__ = ()
    id = property(lambda self: gid("InventoryItem", self.r.id))
    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    sku = property(lambda self: self.r.sku)
    tracked = property(lambda self: self.r.tracked)
    requiresShipping = property(lambda self: True)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at or SHOP_EPOCH))  # noqa: N815
    duplicateSkuCount = property(lambda self: 0)  # noqa: N815
    harmonizedSystemCode = property(lambda self: None)  # noqa: N815
    countryCodeOfOrigin = property(lambda self: None)  # noqa: N815
    provinceCodeOfOrigin = property(lambda self: None)  # noqa: N815
    inventoryHistoryUrl = property(lambda self: None)  # noqa: N815
    unitCost = property(lambda self: None)  # noqa: N815
    variant = property(lambda self: VariantObj(self.ctx, self.r))

    def inventoryLevels(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        levels = self.ctx.api.index("levels_by_item").get(self.r.id, [])
        return paginate(self.ctx, info, list_view(levels, key=lambda lv: lv.location_id), args,
                        lambda lv: InventoryLevelObj(self.ctx, lv))

    def inventoryLevel(self, info: Any, locationId: str) -> InventoryLevelObj | None:  # noqa: N802, N803
        _, location_id = parse_gid(locationId)
        level = self.ctx.world.shopify_inventory_levels.get((self.r.id, location_id))
        return InventoryLevelObj(self.ctx, level) if level is not None else None


def level_gid(level: ShopifyInventoryLevel) -> str:
    return gid("InventoryLevel", level.location_id, f"?inventory_item_id={level.inventory_item_id}")


class InventoryLevelObj(Obj):
    __slots__ = ()
    id = property(lambda self: level_gid(self.r))
    canDeactivate = property(lambda self: False)  # noqa: N815
    deactivationAlert = property(lambda self: None)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at))  # noqa: N815

    @property
    def item(self) -> InventoryItemObj:
        return InventoryItemObj(self.ctx, self.ctx.world.shopify_inventory_items.get(self.r.inventory_item_id))

    @property
    def location(self) -> LocationObj:
        return LocationObj(self.ctx, self.ctx.world.shopify_locations.get(self.r.location_id))

    def quantities(self, info: Any, names: list[str]) -> list[dict]:
        level = self.r
        values = {"available": level.available, "on_hand": level.on_hand,
                  "committed": max(0, level.on_hand - level.available)}
        return [{
            "id": gid("InventoryQuantity", level.location_id,
                      f"?inventory_item_id={level.inventory_item_id}&name={name}"),
            "name": name, "quantity": values.get(name, 0), "updatedAt": iso(level.updated_at),
        } for name in names]


class BulkOperationObj(Obj):
    __slots__ = ()
    id = property(lambda self: self.r.id)
    status = property(lambda self: self.r.status)
    errorCode = property(lambda self: self.r.error_code)  # noqa: N815
    createdAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    completedAt = property(lambda self: iso(self.r.completed_at))  # noqa: N815
    objectCount = property(lambda self: str(self.r.object_count))  # noqa: N815
    query = property(lambda self: self.r.query)
    type = property(lambda self: "QUERY")

    @property
    def rootObjectCount(self) -> str:  # noqa: N802
        run = self.ctx.api.bulk_runs.get(self.r.id)
        return str(run.root_object_count if run else 0)

    def _file_url(self) -> str:
        return f"{self.ctx.api.sandbox.base_url}/shopify/_bulk/{_gid_number(self.r.id, 'BulkOperation')}.jsonl"

    @property
    def fileSize(self) -> str | None:  # noqa: N802
        return str(self.r.file_size) if self.r.status == "COMPLETED" and self.r.result else None

    @property
    def url(self) -> str | None:  # no data, no file (Shopify answers null for an empty result)
        return self._file_url() if self.r.status == "COMPLETED" and self.r.result else None

    @property
    def partialDataUrl(self) -> str | None:  # noqa: N802
        return self._file_url() if self.r.status == "FAILED" and self.r.result else None


class AdjustmentGroupObj(Obj):
    """`r` is a dict describing one inventorySetQuantities application."""

    __slots__ = ()
    id = property(lambda self: self.r["id"])
    createdAt = property(lambda self: self.r["createdAt"])  # noqa: N815
    reason = property(lambda self: self.r["reason"])
    referenceDocumentUri = property(lambda self: self.r["referenceDocumentUri"])  # noqa: N815

    def changes(self, info: Any, inventoryItemIds: list[str] | None = None, locationIds: list[str] | None = None,  # noqa: N803
                quantityNames: list[str] | None = None) -> list[dict]:  # noqa: N803
        out = []
        world = self.ctx.world
        for change in self.r["changes"]:
            if inventoryItemIds is not None and gid("InventoryItem", change["item"]) not in inventoryItemIds:
                continue
            if locationIds is not None and gid("Location", change["location"]) not in locationIds:
                continue
            if quantityNames is not None and change["name"] not in quantityNames:
                continue
            item = world.shopify_inventory_items.get(change["item"])
            loc = world.shopify_locations.get(change["location"])
            out.append({"name": change["name"], "delta": change["delta"],
                        "quantityAfterChange": change["after"], "ledgerDocumentUri": None,
                        "item": InventoryItemObj(self.ctx, item) if item else None,
                        "location": LocationObj(self.ctx, loc) if loc else None})
        return out


