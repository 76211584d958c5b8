"""World records -> PayPal JSON (`Renderer`): Orders v2 orders with their captures, refunds and trackers,
Add Tracking v1 trackers, and Transaction Search rows, with links pointing back at this sandbox.
"""

from __future__ import annotations

from datetime import UTC
from operator import attrgetter
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.paypal.common import (
    API,
    CAPTURE_STATUS_CODES,
    CAPTURE_T_CODE,
    PAYER_ID_ALPHABET,
    REFUND_STATUS_CODES,
    REFUND_T_CODE,
    _seeded,
)
from shipshape_sandbox.apis.paypal.state import trackers_by_capture
from shipshape_sandbox.world import PayPalCapture, PayPalRefund, cents_to_str, iso

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.apis.paypal.state import _State
    from shipshape_sandbox.server import Sandbox
    from shipshape_sandbox.world import PayPalOrder, PayPalTracker


def money(cents: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": cents_to_str(cents)}


def _name_parts(order: PayPalOrder | None) -> tuple[str | None, str | None]:
    if order is None or order.shipping_address is None:
        return None, None
    return order.shipping_address.first_name or None, order.shipping_address.last_name or None


def order_payer(order: PayPalOrder) -> dict[str, Any]:
    given, surname = _name_parts(order)
    payer: dict[str, Any] = {}
    if given or surname:
        payer["name"] = {k: v for k, v in (("given_name", given), ("surname", surname)) if v}
    payer["email_address"] = order.payer_email
    payer["payer_id"] = order.payer_id
    if order.shipping_address is not None:
        payer["address"] = {"country_code": order.shipping_address.country_code}
    return payer


def order_shipping(order: PayPalOrder, trackers: list[dict[str, Any]]) -> dict[str, Any] | None:
    addr = order.shipping_address
    if addr is None and not trackers:
        return None
    shipping: dict[str, Any] = {}
    if addr is not None:
        shipping["name"] = {"full_name": addr.name}
        address = {"address_line_1": addr.address1}
        if addr.address2:
            address["address_line_2"] = addr.address2
        address["admin_area_2"] = addr.city
        if addr.province_code:
            address["admin_area_1"] = addr.province_code
        address["postal_code"] = addr.zip
        address["country_code"] = addr.country_code
        shipping["address"] = address
    if trackers:
        shipping["trackers"] = trackers
    return shipping


class Renderer:
    """World records -> PayPal JSON, with links pointing back at this sandbox."""

    def __init__(self, sandbox: Sandbox, state: _State) -> None:
        self.sandbox = sandbox
        self.state = state
        seed = sandbox.world.seed
        self.merchant_id = _seeded(seed, "paypal-merchant", 13, PAYER_ID_ALPHABET)
        self.merchant_email = "payments@sandbox-merchant.example"

    @property
    def base(self) -> str:
        return f"{self.sandbox.base_url}/{API}"

    # --- Orders v2
    def capture(self, capture: PayPalCapture) -> dict[str, Any]:
        out: dict[str, Any] = {"id": capture.id, "status": capture.status}
        if capture.status == "PENDING":
            out["status_details"] = {"reason": "PENDING_REVIEW"}
        out["amount"] = money(capture.amount, capture.currency)
        out["final_capture"] = True
        out["seller_protection"] = {
            "status": "ELIGIBLE",
            "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
        }
        if capture.status not in ("DECLINED", "FAILED"):
            out["seller_receivable_breakdown"] = {
                "gross_amount": money(capture.amount, capture.currency),
                "paypal_fee": money(capture.fee, capture.currency),
                "net_amount": money(capture.amount - capture.fee, capture.currency),
            }
        if capture.invoice_id:
            out["invoice_id"] = capture.invoice_id
        if capture.custom_id:
            out["custom_id"] = capture.custom_id
        out["links"] = [
            {"href": f"{self.base}/v2/payments/captures/{capture.id}", "rel": "self", "method": "GET"},
            {
                "href": f"{self.base}/v2/payments/captures/{capture.id}/refund",
                "rel": "refund",
                "method": "POST",
            },
            {"href": f"{self.base}/v2/checkout/orders/{capture.order_id}", "rel": "up", "method": "GET"},
        ]
        out["create_time"] = iso(capture.create_time)
        out["update_time"] = iso(capture.update_time)
        return out

    def refund(self, refund: PayPalRefund, refunded_so_far: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": refund.id, "amount": money(refund.amount, refund.currency)}
        if refund.invoice_id:
            out["invoice_id"] = refund.invoice_id
        out["seller_payable_breakdown"] = {
            "gross_amount": money(refund.amount, refund.currency),
            "paypal_fee": money(0, refund.currency),
            "net_amount": money(refund.amount, refund.currency),
            "total_refunded_amount": money(refunded_so_far, refund.currency),
        }
        out["status"] = refund.status
        out["links"] = [
            {"href": f"{self.base}/v2/payments/refunds/{refund.id}", "rel": "self", "method": "GET"},
            {"href": f"{self.base}/v2/payments/captures/{refund.capture_id}", "rel": "up", "method": "GET"},
        ]
        out["create_time"] = iso(refund.create_time)
        out["update_time"] = iso(refund.update_time)
        return out

    def order_tracker(self, tracker: PayPalTracker) -> dict[str, Any]:
        out: dict[str, Any] = {"id": tracker.id, "status": tracker.status}
        items = self.state.tracker_items.get(tracker.id)
        if items:
            out["items"] = items
        out["links"] = [
            {"href": f"{self.base}/v1/shipping/trackers/{tracker.id}", "rel": "self", "method": "GET"}
        ]
        out["create_time"] = iso(tracker.create_time)
        out["update_time"] = iso(tracker.update_time)
        return out

    def order(self, order: PayPalOrder) -> dict[str, Any]:
        world = self.sandbox.world
        captures = [c for c in (world.paypal_captures.get(cid) for cid in order.capture_ids) if c is not None]
        refunds: list[dict[str, Any]] = []
        for capture in captures:
            rows = [r for r in (world.paypal_refunds.get(rid) for rid in capture.refund_ids) if r is not None]
            so_far = 0
            for r in sorted(rows, key=attrgetter("create_time", "id")):
                if r.status == "COMPLETED":
                    so_far += r.amount
                refunds.append(self.refund(r, so_far))
        index = trackers_by_capture(world, self.state)
        trackers = [self.order_tracker(t) for c in captures for t in index.get(c.id, ())]
        unit: dict[str, Any] = {
            "reference_id": order.reference_id,
            "amount": money(order.amount, order.currency),
            "payee": {"email_address": self.merchant_email, "merchant_id": self.merchant_id},
        }
        if order.invoice_id:
            unit["invoice_id"] = order.invoice_id
        if order.custom_id:
            unit["custom_id"] = order.custom_id
        shipping = order_shipping(order, trackers)
        if shipping is not None:
            unit["shipping"] = shipping
        payments: dict[str, Any] = {}
        if captures:
            payments["captures"] = [self.capture(c) for c in captures]
        if refunds:
            payments["refunds"] = refunds
        if payments:
            unit["payments"] = payments
        payer = order_payer(order)
        wallet = {k: v for k, v in payer.items() if k in ("email_address", "name", "address")}
        wallet["account_id"] = order.payer_id
        wallet["account_status"] = "VERIFIED"
        return {
            "id": order.id,
            "intent": order.intent,
            "status": order.status,
            "payment_source": {"paypal": wallet},
            "purchase_units": [unit],
            "payer": payer,
            "create_time": iso(order.create_time),
            "update_time": iso(order.update_time),
            "links": [{"href": f"{self.base}/v2/checkout/orders/{order.id}", "rel": "self", "method": "GET"}],
        }

    # --- Add Tracking v1
    def tracker_links(self, tracker_id: str) -> list[dict[str, str]]:
        href = f"{self.base}/v1/shipping/trackers/{tracker_id}"
        return [
            {"href": href, "rel": "self", "method": "GET"},
            {"href": href, "rel": "replace", "method": "PUT"},
            {"href": f"{self.base}/v1/shipping/trackers-batch", "rel": "create", "method": "POST"},
        ]

    def tracker(self, tracker: PayPalTracker) -> dict[str, Any]:
        out: dict[str, Any] = {
            "transaction_id": tracker.transaction_id,
            "tracking_number": tracker.tracking_number,
            "tracking_number_type": "CARRIER_PROVIDED",
            "status": tracker.status,
            "shipment_date": tracker.create_time.astimezone(UTC).strftime("%Y-%m-%d"),
            "carrier": tracker.carrier,
            "notify_buyer": tracker.notify_payer,
            "last_updated_time": iso(tracker.update_time),
            "links": self.tracker_links(tracker.id),
        }
        return out

    def tracker_identifier(self, tracker: PayPalTracker) -> dict[str, Any]:
        href = f"{self.base}/v1/shipping/trackers/{tracker.id}"
        return {
            "transaction_id": tracker.transaction_id,
            "tracking_number": tracker.tracking_number,
            "links": [
                {"href": href, "rel": "self", "method": "GET"},
                {"href": href, "rel": "replace", "method": "PUT"},
            ],
        }

    # --- Transaction Search
    def transaction(self, row: PayPalCapture | PayPalRefund, groups: tuple[str, ...]) -> dict[str, Any]:
        world = self.sandbox.world
        if isinstance(row, PayPalRefund):
            capture = world.paypal_captures.get(row.capture_id)
        else:
            capture = row
        order = world.paypal_orders.get(capture.order_id) if capture is not None else None
        out: dict[str, Any] = {}
        for group in groups:
            if group == "transaction_info":
                out[group] = self._transaction_info(row, capture, order)
            elif group == "payer_info":
                out[group] = self._payer_info(order)
            elif group == "shipping_info":
                out[group] = self._shipping_info(order) if isinstance(row, PayPalCapture) else {}
            else:  # auction, cart, incentive, store: the merchant sends none of these
                out[group] = {}
        return out

    def _transaction_info(self, row, capture: PayPalCapture | None, order: PayPalOrder | None) -> dict:
        info: dict[str, Any] = {}
        if order is not None:
            info["paypal_account_id"] = order.payer_id
        info["transaction_id"] = row.id
        if isinstance(row, PayPalRefund):
            info["paypal_reference_id"] = row.capture_id
            info["paypal_reference_id_type"] = "TXN"
            info["transaction_event_code"] = REFUND_T_CODE
        else:
            info["transaction_event_code"] = CAPTURE_T_CODE
        info["transaction_initiation_date"] = iso(row.create_time)
        info["transaction_updated_date"] = iso(row.update_time)
        if isinstance(row, PayPalRefund):
            info["transaction_amount"] = money(-row.amount, row.currency)
            info["transaction_status"] = REFUND_STATUS_CODES.get(row.status, "P")
            invoice = row.invoice_id or (capture.invoice_id if capture else None)
            custom = capture.custom_id if capture else None
        else:
            info["transaction_amount"] = money(row.amount, row.currency)
            if row.fee and row.status not in ("DECLINED", "FAILED"):
                info["fee_amount"] = money(-row.fee, row.currency)  # fees are reported as debits
            info["transaction_status"] = CAPTURE_STATUS_CODES.get(row.status, "P")
            invoice, custom = row.invoice_id, row.custom_id
        if invoice:
            info["invoice_id"] = invoice
        if custom:
            info["custom_field"] = custom
        info["protection_eligibility"] = "01"
        if isinstance(row, PayPalCapture):
            info["instrument_type"] = "PAYPAL"
        return info

    def _payer_info(self, order: PayPalOrder | None) -> dict[str, Any]:
        if order is None:
            return {}
        given, surname = _name_parts(order)
        info: dict[str, Any] = {
            "account_id": order.payer_id,
            "email_address": order.payer_email,
            "address_status": "Y",
            "payer_status": "Y",
        }
        if given or surname:
            name = {k: v for k, v in (("given_name", given), ("surname", surname)) if v}
            name["alternate_full_name"] = " ".join(v for v in (given, surname) if v)
            info["payer_name"] = name
        if order.shipping_address is not None:
            info["country_code"] = order.shipping_address.country_code
        return info

    def _shipping_info(self, order: PayPalOrder | None) -> dict[str, Any]:
        if order is None or order.shipping_address is None:
            return {}
        addr = order.shipping_address
        address: dict[str, Any] = {"line1": addr.address1}
        if addr.address2:
            address["line2"] = addr.address2
        address["city"] = addr.city
        if addr.province_code:
            address["state"] = addr.province_code
        address["country_code"] = addr.country_code
        address["postal_code"] = addr.zip
        return {"name": addr.name, "address": address}
