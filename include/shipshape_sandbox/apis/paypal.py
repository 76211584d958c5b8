"""PayPal REST emulation: OAuth2 client credentials, Transaction Search, Orders v2 (show, track) and the
Add Tracking v1 API, rendered from the world's PayPal records.

Served under `/paypal`, so `https://api-m.paypal.com/v1/...` becomes `<sandbox>/paypal/v1/...`. Shapes follow
PayPal's published OpenAPI specs (paypal/paypal-rest-api-specifications: reporting_transactions_v1,
checkout_orders_v2, shipping_shipment_tracking_v1) and, where the specs and the live service disagree, the
live service as its clients observe it; each such choice is noted where it is made.

Behaviour worth knowing when writing a client against it:

- Tokens: `POST /v1/oauth2/token` (HTTP Basic client_id:secret, `grant_type=client_credentials`). A client
  asking again while its token is alive gets the same token with the remaining `expires_in`, as PayPal does.
  Tokens expire by the wall clock after `TOKEN_LIFETIME_SECONDS`.
- Transaction Search filters and sorts on `transaction_initiation_date` (the "transaction date"; AWS's
  PayPal connector documents it as the filtered field). A refund is its own T1107 row, so it appears in the
  window of its own date; a capture's later status change (S -> V on a full refund) does not move it into a
  later window: re-read a lookback if you need current statuses.
- Publishing lag: a transaction becomes visible `PUBLISH_LAG` after it happened, judged by the world clock;
  `last_refreshed_datetime` is `clock - PUBLISH_LAG`, the response's `end_date` is clamped to it, and a
  `start_date` after it is refused ("Data for the given start date is not available."), as PayPal does.
- Limits: the date range is at most 31 days; more than `MAX_RESULT_ITEMS` (10 000) matching rows answer
  400 `RESULTSET_TOO_LARGE` with no page, so clients must split the window.
- `balance_affecting_records_only=Y` (the default) leaves out denied (D) payments, which move no money.
- Rate limit (only when the sandbox's rate limits are real): PayPal publishes no numbers; we allow
  `RATE_PER_SECOND` requests per second per access token with a burst of `RATE_BURST`, answering 429
  `RATE_LIMIT_REACHED` with a Retry-After header.
- `PayPal-Request-Id` on the write calls: a repeated id answers the first successful response again
  (200 instead of 201 for `/track`) without applying anything; ids are kept for 6 hours as PayPal documents.

Deviations from the shared specs, all deliberate: times are rendered `...Z` (the live reporting API writes
`+0000`, which the spec's own pattern rejects); an empty search answers `"transaction_details": []` as the
live API does (the spec says minItems 1); `GET /v1/shipping/trackers` answers a `tracker_collection`
(`{"trackers": [...], "links": [...]}`), which is what PayPal returns and its clients read, although the spec
declares a single `tracker`; 401s for bad tokens use PayPal's OAuth shape `{"error", "error_description"}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from heapq import merge
from operator import attrgetter
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import (
    PayPalCapture,
    PayPalOrder,
    PayPalRefund,
    PayPalTracker,
    World,
    cents_to_str,
    iso,
)

API = "paypal"

# Settings, read when a request arrives (tests shorten them with monkeypatch).
TOKEN_LIFETIME_SECONDS = 32_400  # what PayPal issues (9 h), counted down on reuse
PUBLISH_LAG = timedelta(hours=3)  # "It takes a maximum of three hours for executed transactions to appear"
MAX_RANGE = timedelta(days=31)
MAX_RESULT_ITEMS = 10_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
RATE_PER_SECOND = 30.0  # PayPal publishes no limit: a plausible per-token request rate...
RATE_BURST = 50.0  # ...with a burst, leaky-bucket style
IDEMPOTENCY_TTL_SECONDS = 6 * 3600  # "The server stores keys for 6 hours"

SCOPES = (
    "https://uri.paypal.com/services/reporting/search/read",
    "https://uri.paypal.com/services/payments/payment",
    "https://uri.paypal.com/services/payments/refund",
    "https://uri.paypal.com/services/payments/orders/client-side-integration",
    "https://uri.paypal.com/services/shipping/trackers/readwrite",
    "https://uri.paypal.com/services/disputes/read-seller",
    "https://uri.paypal.com/services/applications/webhooks",
    "openid",
)

MESSAGES = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "AUTHENTICATION_FAILURE": "Authentication failed due to missing authorization header, or invalid "
    "authentication credentials.",
    "NOT_AUTHORIZED": "Authorization failed due to insufficient permissions.",
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "UNPROCESSABLE_ENTITY": "The requested action could not be performed, semantically incorrect, or failed "
    "business validation.",
    "INTERNAL_SERVER_ERROR": "An internal server error occurred.",
    "SERVICE_UNAVAILABLE": "Service Unavailable.",
    "RATE_LIMIT_REACHED": "Too many requests. Blocked due to rate limiting.",
    "RESULTSET_TOO_LARGE": "Result set size is greater than the maximum limit. Change the filter criteria and "
    "try again.",
}
STATUS_NAMES = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILURE",
    403: "NOT_AUTHORIZED",
    404: "RESOURCE_NOT_FOUND",
    422: "UNPROCESSABLE_ENTITY",
    429: "RATE_LIMIT_REACHED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
ORDERS_ERRORS = "https://developer.paypal.com/api/rest/reference/orders/v2/errors/#"
# The Orders v2 spec enumerates each issue's description; PayPal sends exactly these.
ISSUES = {
    "MISSING_REQUIRED_PARAMETER": "A required field / parameter is missing.",
    "INVALID_STRING_LENGTH": "The value of a field is either too short or too long.",
    "INVALID_PARAMETER_VALUE": "A parameter value is not valid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "CAPTURE_STATUS_NOT_VALID": "Invalid capture status. Tracker information can only be added to captures in "
    "`COMPLETED` state.",
    "CAPTURE_ID_NOT_FOUND": "Specified capture ID does not exist. Check the capture ID and try again.",
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist. Please check the resource ID and try again.",
}

# The spec's Internet date-time pattern; PayPal insists on seconds and an offset.
DATE_TIME = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])[T,t]([0-1][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
FIELD_GROUPS = (
    "transaction_info",
    "payer_info",
    "shipping_info",
    "auction_info",
    "cart_info",
    "incentive_info",
    "store_info",
)
# shipment_tracking_status in both specs.
TRACKING_STATUSES = frozenset(
    "CANCELLED DELIVERED LOCAL_PICKUP ON_HOLD SHIPPED SHIPMENT_CREATED DROPPED_OFF IN_TRANSIT RETURNED "
    "LABEL_PRINTED ERROR UNCONFIRMED PICKUP_FAILED DELIVERY_DELAYED DELIVERY_SCHEDULED DELIVERY_FAILED "
    "INRETURN IN_PROCESS NEW VOID PROCESSED NOT_SHIPPED COMPLETED".split()
)
CARRIER = re.compile(r"^[0-9A-Z_]{1,64}$")  # the spec's pattern; its 1 276-value enum is not repeated here
# Orders v2 refuses trackers on captures that hold no money ("Tracker information can only be added to
# captures in `COMPLETED` state."); we also let partially refunded captures through, since goods still ship.
TRACKABLE_CAPTURES = frozenset({"COMPLETED", "PARTIALLY_REFUNDED"})
CAPTURE_T_CODE = "T0006"  # "PayPal Checkout APIs": what an Orders v2 capture is reported as
REFUND_T_CODE = "T1107"  # "Payment refund, initiated by merchant"
CAPTURE_STATUS_CODES = {
    "COMPLETED": "S",
    "PARTIALLY_REFUNDED": "S",
    "REFUNDED": "V",
    "PENDING": "P",
    "DECLINED": "D",
    "FAILED": "D",
}
REFUND_STATUS_CODES = {"COMPLETED": "S", "PENDING": "P", "FAILED": "D", "CANCELLED": "D"}
PAYER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # PayPal account ids: ^[2-9A-HJ-NP-Z]{13}$


def debug_id() -> str:
    return secrets.token_hex(7)[:13]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every PayPal response carries a Paypal-Debug-Id header (and errors repeat it in the body)."""
    hdrs = {
        "Paypal-Debug-Id": body.get("debug_id")
        if isinstance(body, dict) and "debug_id" in body
        else debug_id()
    }
    hdrs.update(headers or {})
    return JSONResponse(body, status_code=status, headers=hdrs)


def error(
    status: int,
    *,
    name: str | None = None,
    message: str | None = None,
    details: list[dict[str, Any]] | None = None,
    links: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """PayPal's error body: {name, message, debug_id, details[], links[]}."""
    name = name or STATUS_NAMES.get(status, "INTERNAL_SERVER_ERROR")
    body: dict[str, Any] = {"name": name, "message": message or MESSAGES.get(name, name)}
    body["debug_id"] = debug_id()
    if details is not None:
        body["details"] = details
    body.update(extra)
    body["links"] = links if links is not None else []
    return _json(body, status, headers)


def orders_error(
    status: int,
    issue: str,
    field_: str | None = None,
    value: str | None = None,
    location: str = "body",
) -> JSONResponse:
    """An Orders v2 error: one detail and the information link PayPal attaches for its issue."""
    detail: dict[str, Any] = {}
    if field_ is not None:
        detail["field"] = field_
    if value is not None:
        detail["value"] = value
    if field_ is not None:
        detail["location"] = location
    detail.update({"issue": issue, "description": ISSUES[issue]})
    link = {"href": ORDERS_ERRORS + issue, "rel": "information_link", "method": "GET"}
    return error(status, details=[detail], links=[link])


def invalid_query(field_: str, issue: str, value: str | None = None, description: str | None = None):
    detail: dict[str, Any] = {"field": field_}
    if value is not None:
        detail["value"] = value
    detail.update({"location": "query", "issue": issue})
    if description:
        detail["description"] = description
    return error(400, details=[detail])


def render_fault(status: int, retry_after: float | None) -> Response:
    """Injected faults in PayPal's shape: 503 SERVICE_UNAVAILABLE, 429 RATE_LIMIT_REACHED (+ Retry-After)."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return error(status, headers=headers)


def _seeded(seed: int, label: str, n: int, alphabet: str) -> str:
    digest = hashlib.sha256(f"shipshape-sandbox:{seed}:{label}".encode()).digest()
    value = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def parse_date_time(value: str) -> datetime | None:
    if not DATE_TIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def money(cents: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": cents_to_str(cents)}


# --------------------------------------------------------------------------------------------- state
@dataclass
class _Token:
    value: str
    client_id: str
    expires_at: float  # time.time()


@dataclass
class _Replay:
    status: int
    body: Any
    stored_at: float


@dataclass
class _State:
    """What the emulated PayPal remembers besides the world: tokens, request ids, indexes and caches."""

    tokens: dict[str, _Token] = field(default_factory=dict)
    current: dict[str, _Token] = field(default_factory=dict)  # client_id -> live token
    replays: dict[str, _Replay] = field(default_factory=dict)
    tracker_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # tracker id -> items
    tracker_index: tuple[int, dict[str, list[PayPalTracker]]] | None = None
    searches: OrderedDict = field(default_factory=OrderedDict)
    buckets: Buckets | None = None


def trackers_by_capture(world: World, state: _State) -> dict[str, list[PayPalTracker]]:
    """Trackers grouped by capture id, rebuilt only when the world changed behind our back."""
    if state.tracker_index is not None and state.tracker_index[0] == world.revision:
        return state.tracker_index[1]
    index: dict[str, list[PayPalTracker]] = {}
    for tracker in world.paypal_trackers.sorted_by("create_time"):
        index.setdefault(tracker.transaction_id, []).append(tracker)
    state.tracker_index = (world.revision, index)
    return index


def add_tracker(world: World, state: _State, tracker: PayPalTracker) -> None:
    """Add a tracker and keep the capture index current without a full rebuild."""
    index = trackers_by_capture(world, state)
    world.paypal_trackers.add(tracker)
    index.setdefault(tracker.transaction_id, []).append(tracker)
    state.tracker_index = (world.revision, index)


# ----------------------------------------------------------------------------------------- rendering
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


# ------------------------------------------------------------------------------------------ the API
class PayPalAPI:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.state = _State()
        self.render = Renderer(sandbox, self.state)
        seed = sandbox.world.seed
        self.app_id = "APP-" + _seeded(seed, "paypal-app", 17, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    # --- auth and limits
    async def token(self, request: Request) -> Response:
        creds = self.sandbox.credentials
        header = request.headers.get("authorization", "")
        client_id = secret = None
        if header[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = None
        if client_id != creds.paypal_client_id or secret != creds.paypal_client_secret:
            return _json(
                {"error": "invalid_client", "error_description": "Client Authentication failed"}, 401
            )
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant = form.get("grant_type")
        if not grant:
            return _json({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}, 400)
        if grant != "client_credentials":
            return _json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Grant type {grant} is not supported",
                },
                400,
            )
        now = time.time()
        token = self.state.current.get(client_id)
        if token is None or token.expires_at - now < 1:
            value = "A21AA" + secrets.token_urlsafe(72).replace("-", "_")
            token = _Token(value, client_id, now + TOKEN_LIFETIME_SECONDS)
            self.state.tokens[value] = token
            self.state.current[client_id] = token
            # Expired tokens are kept a day so their use still answers "not found in cache", not "forged".
            for stale in [k for k, t in self.state.tokens.items() if t.expires_at < now - 86_400]:
                del self.state.tokens[stale]
        nonce = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + secrets.token_urlsafe(32)
        return _json(
            {
                "scope": " ".join(SCOPES),
                "access_token": token.value,
                "token_type": "Bearer",
                "app_id": self.app_id,
                "expires_in": int(token.expires_at - now),
                "nonce": nonce,
            }
        )

    def authorize(self, request: Request) -> Response | None:
        """None when the bearer token is live (and under the rate limit), else PayPal's refusal."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer " or not header[7:].strip():
            return error(
                401,
                links=[
                    {
                        "href": "https://developer.paypal.com/docs/api/overview/#error",
                        "rel": "information_link",
                    }
                ],
            )
        value = header[7:].strip()
        token = self.state.tokens.get(value)
        if token is None:
            return _json(
                {"error": "invalid_token", "error_description": "Token signature verification failed"}, 401
            )
        if token.expires_at <= time.time():
            return _json(
                {"error": "invalid_token", "error_description": "Access Token not found in cache"}, 401
            )
        if self.sandbox.rate_limited:
            taken, wait = self._buckets()[value].try_take(1)
            if not taken:
                return render_fault(429, wait)
            self.sandbox.stats.charge(f"{API}:requests", 1)
        return None

    def _buckets(self) -> Buckets:
        """One leaky bucket per access token, rebuilt if the module's limits were changed (tests do)."""
        buckets = self.state.buckets
        if buckets is None or (buckets.capacity, buckets.restore_rate) != (RATE_BURST, RATE_PER_SECOND):
            buckets = self.state.buckets = Buckets(RATE_BURST, RATE_PER_SECOND)
        return buckets

    # --- idempotency (PayPal-Request-Id)
    def replay(self, request: Request, scope: str) -> tuple[str | None, Response | None]:
        key = request.headers.get("paypal-request-id")
        if not key:
            return None, None
        now = time.time()
        slot = f"{scope}:{key}"
        hit = self.state.replays.get(slot)
        if hit is not None and now - hit.stored_at < IDEMPOTENCY_TTL_SECONDS:
            self.sandbox.stats.idempotent_replays[API] += 1
            return slot, _json(hit.body, 200 if hit.status == 201 else hit.status)
        return slot, None

    def remember(self, slot: str | None, key: str | None, status: int, body: Any, applied: bool) -> None:
        if slot is None:
            return
        self.state.replays[slot] = _Replay(status, body, time.time())
        if applied and key:
            self.sandbox.stats.idempotency_keys_applied[f"{API}:{key}"] += 1

    # --- Transaction Search
    async def transactions(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        q = request.query_params
        world = self.sandbox.world
        parsed: dict[str, datetime] = {}
        for name in ("start_date", "end_date"):
            raw = q.get(name)
            if raw is None:
                return invalid_query(name, "MISSING_REQUIRED_PARAMETER", description=f"{name} is required.")
            value = parse_date_time(raw)
            if value is None:
                return invalid_query(
                    name,
                    "INVALID_PARAMETER_SYNTAX",
                    raw,
                    "Date must be in Internet date and time format, e.g. 2026-11-01T00:00:00Z.",
                )
            parsed[name] = value
        start, end = parsed["start_date"], parsed["end_date"]
        if end < start:
            return invalid_query("end_date", "End date should be greater than start date", q["end_date"])
        if end - start > MAX_RANGE:
            return invalid_query("end_date", "Date range is greater than 31 days", q["end_date"])
        refreshed = (world.clock - PUBLISH_LAG).replace(microsecond=0)
        if start > refreshed:
            return error(400, message="Data for the given start date is not available.", details=[])
        page = q.get("page", "1")
        page_size = q.get("page_size", str(DEFAULT_PAGE_SIZE))
        if not page.isdigit() or int(page) < 1:
            return invalid_query("page", "INVALID_PARAMETER_VALUE", page)
        if not page_size.isdigit() or not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            return invalid_query(
                "page_size",
                "INVALID_PARAMETER_VALUE",
                page_size,
                f"page_size must be between 1 and {MAX_PAGE_SIZE}.",
            )
        page_n, size = int(page), int(page_size)
        fields = q.get("fields", "transaction_info")
        groups = FIELD_GROUPS if fields.strip() == "all" else tuple(f.strip() for f in fields.split(","))
        if not groups or any(g not in FIELD_GROUPS for g in groups):
            return invalid_query("fields", "INVALID_PARAMETER_VALUE", fields)
        txn_id = q.get("transaction_id")
        if txn_id is not None and not 17 <= len(txn_id) <= 19:
            return invalid_query("transaction_id", "INVALID_STRING_LENGTH", txn_id)
        amount_range = None
        if "transaction_amount" in q:
            m = re.fullmatch(r"\s*\[?\s*(-?\d+)\s+TO\s+(-?\d+)\s*\]?\s*", q["transaction_amount"])
            if m is None:
                return invalid_query(
                    "transaction_amount", "INVALID_PARAMETER_SYNTAX", q["transaction_amount"]
                )
            amount_range = (int(m.group(1)), int(m.group(2)))
        bar = q.get("balance_affecting_records_only", "Y").upper()
        if bar not in ("Y", "N"):
            return invalid_query("balance_affecting_records_only", "INVALID_PARAMETER_VALUE", bar)
        filters = (
            txn_id,
            q.get("transaction_type"),
            q.get("transaction_status"),
            q.get("transaction_currency"),
            amount_range,
            bar == "Y",
        )
        window_end = min(end, refreshed)
        rows = self.search(start, window_end, filters)
        if len(rows) > MAX_RESULT_ITEMS:
            return error(
                400,
                name="RESULTSET_TOO_LARGE",
                total_items=len(rows),
                maximum_items=MAX_RESULT_ITEMS,
                links=[
                    {
                        "href": "https://developer.paypal.com/docs/api/transaction-search/v1/"
                        "#error-RESULTSET_TOO_LARGE",
                        "rel": "information_link",
                    }
                ],
            )
        total = len(rows)
        total_pages = math.ceil(total / size) if total else 0
        offset = (page_n - 1) * size
        if page_n > 1 and offset < total and self.sandbox.faults.repeat_boundary():
            offset -= 1  # a flaky service repeats the last record of the previous page
        chunk = rows[offset : offset + size]
        details = []
        hostile = self.sandbox.faults.mode == "hostile"
        for row in chunk:
            entry = self.render.transaction(row, groups)
            if hostile:
                self.sandbox.faults.corrupt(
                    "paypal.transaction",
                    entry,
                    id_path=("transaction_info", "transaction_id"),
                    amount_path=("transaction_info", "transaction_amount", "value"),
                    currency_path=("transaction_info", "transaction_amount", "currency_code"),
                    timestamp_path=("transaction_info", "transaction_updated_date"),
                )
            details.append(entry)
        return _json(
            {
                "transaction_details": details,
                "account_number": self.render.merchant_id,
                "start_date": iso(start),
                "end_date": iso(window_end),
                "last_refreshed_datetime": iso(refreshed),
                "page": page_n,
                "total_items": total,
                "total_pages": total_pages,
                "links": self._page_links(request, page_n, total_pages),
            }
        )

    def search(self, start: datetime, end: datetime, filters: tuple) -> list:
        """Every matching capture and refund in [start, end], ordered by initiation date.

        Bisects the cached create_time views, so a page costs the window, not the world; the matching rows
        are cached per world revision, so paging through them costs only the page.
        """
        world = self.sandbox.world
        key = (world.revision, start, end, filters)
        cached = self.state.searches.get(key)
        if cached is not None:
            self.state.searches.move_to_end(key)
            return cached
        txn_id, t_code, status, currency, amount_range, balance_only = filters
        by_time = attrgetter("create_time")
        slices = []
        for table in (world.paypal_captures, world.paypal_refunds):
            view = table.sorted_by("create_time")
            lo = bisect_left(view, start, key=by_time)
            hi = bisect_right(view, end, key=by_time)
            slices.append(view[lo:hi])
        rows = []
        for row in merge(*slices, key=attrgetter("create_time", "id")):
            is_refund = isinstance(row, PayPalRefund)
            if txn_id is not None and row.id != txn_id:
                continue
            code = (
                REFUND_STATUS_CODES.get(row.status, "P")
                if is_refund
                else CAPTURE_STATUS_CODES.get(row.status, "P")
            )
            if balance_only and code == "D":
                continue
            if t_code is not None and t_code != (REFUND_T_CODE if is_refund else CAPTURE_T_CODE):
                continue
            if status is not None and status != code:
                continue
            if currency is not None and currency != row.currency:
                continue
            if amount_range is not None and not amount_range[0] <= row.amount <= amount_range[1]:
                continue
            rows.append(row)
        self.state.searches[key] = rows
        while len(self.state.searches) > 32:
            self.state.searches.popitem(last=False)
        return rows

    def _page_links(self, request: Request, page: int, total_pages: int) -> list[dict[str, str]]:
        base = f"{self.render.base}/v1/reporting/transactions"
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

        def href(n: int) -> str:
            return f"{base}?{urlencode([*params, ('page', str(n))])}"

        links = [{"href": href(page), "rel": "self", "method": "GET"}]
        if total_pages > 1:
            links.append({"href": href(1), "rel": "first", "method": "GET"})
        if page < total_pages:
            links.append({"href": href(page + 1), "rel": "next", "method": "GET"})
        if page > 1 and page - 1 <= total_pages:
            links.append({"href": href(page - 1), "rel": "prev", "method": "GET"})
        if total_pages > 1:
            links.append({"href": href(total_pages), "rel": "last", "method": "GET"})
        return links

    # --- Orders v2
    def _order_or_404(self, order_id: str) -> PayPalOrder | Response:
        order = self.sandbox.world.paypal_orders.get(order_id)
        if order is None:
            return orders_error(
                404,
                "INVALID_RESOURCE_ID",
                field_="order_id",
                value=order_id,
                location="path",
            )
        return order

    async def get_order(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        found = self._order_or_404(request.path_params["order_id"])
        if isinstance(found, Response):
            return found
        return _json(self.render.order(found))

    async def get_capture(self, request: Request) -> Response:
        """Payments v2 `GET /v2/payments/captures/{id}`: its `up` link names the order (what a tracker
        writer needs for Orders v2 `/track` when it knows only the capture)."""
        denied = self.authorize(request)
        if denied is not None:
            return denied
        capture_id = request.path_params["capture_id"]
        capture = self.sandbox.world.paypal_captures.get(capture_id)
        if capture is None:
            return error(
                404,
                details=[{"field": "capture_id", "value": capture_id, "location": "path", "issue": "INVALID_RESOURCE_ID"}],
            )
        return _json(self.render.capture(capture))

    async def track(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        raw = await request.body()
        order_id = request.path_params["order_id"]
        slot, replayed = self.replay(request, f"track:{order_id}")
        if replayed is not None:
            self.sandbox.stats.mutation(API, "orders.track", applied=False)
            return replayed
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return orders_error(
                400,
                "INVALID_PARAMETER_SYNTAX",
                field_="/",
                value=raw.decode("utf-8", "replace")[:64],
            )
        problem = self._tracker_fields_problem(body, "/", require_capture=True)
        if problem is not None:
            return problem
        found = self._order_or_404(order_id)
        if isinstance(found, Response):
            self.sandbox.stats.mutation(API, "orders.track", applied=False)
            return found
        order = found
        world = self.sandbox.world
        capture_id = body["capture_id"]
        capture = world.paypal_captures.get(capture_id)
        if capture is None or capture_id not in order.capture_ids:
            self.sandbox.stats.mutation(API, "orders.track", applied=False)
            return orders_error(422, "CAPTURE_ID_NOT_FOUND", field_="/capture_id", value=capture_id)
        if capture.status not in TRACKABLE_CAPTURES:
            self.sandbox.stats.mutation(API, "orders.track", applied=False)
            return orders_error(422, "CAPTURE_STATUS_NOT_VALID")
        applied = self._upsert_tracker(capture, body, order_id=order.id, notify_key="notify_payer")
        self.sandbox.stats.mutation(API, "orders.track", applied=applied)
        rendered = self.render.order(order)
        self.remember(slot, request.headers.get("paypal-request-id"), 201, rendered, applied)
        return _json(rendered, 201)

    def _tracker_fields_problem(self, body: dict, prefix: str, require_capture: bool) -> Response | None:
        """Orders v2 validation of a tracker body, PayPal's 400 issues."""
        id_field = "capture_id" if require_capture else "transaction_id"
        for name in (id_field, "tracking_number"):
            value = body.get(name)
            if value is None or value == "":
                return orders_error(400, "MISSING_REQUIRED_PARAMETER", field_=f"{prefix}{name}")
            if not isinstance(value, str) or not 1 <= len(value) <= (50 if name == id_field else 64):
                return orders_error(400, "INVALID_STRING_LENGTH", field_=f"{prefix}{name}", value=str(value))
        if not re.fullmatch(r"[a-zA-Z0-9]+", body[id_field]):
            return orders_error(
                400,
                "INVALID_PARAMETER_SYNTAX",
                field_=f"{prefix}{id_field}",
                value=body[id_field],
            )
        carrier = body.get("carrier")
        if carrier is None:
            return orders_error(400, "MISSING_REQUIRED_PARAMETER", field_=f"{prefix}carrier")
        if not isinstance(carrier, str) or not CARRIER.match(carrier):
            return orders_error(400, "INVALID_PARAMETER_VALUE", field_=f"{prefix}carrier", value=str(carrier))
        if carrier == "OTHER" and not body.get("carrier_name_other"):
            return orders_error(400, "MISSING_REQUIRED_PARAMETER", field_=f"{prefix}carrier_name_other")
        status = body.get("status")
        if status is not None and status not in TRACKING_STATUSES:
            return orders_error(400, "INVALID_PARAMETER_VALUE", field_=f"{prefix}status", value=str(status))
        for flag in ("notify_payer", "notify_buyer"):
            if flag in body and not isinstance(body[flag], bool):
                return orders_error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    field_=f"{prefix}{flag}",
                    value=str(body[flag]),
                )
        items = body.get("items")
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, dict) for i in items)):
            return orders_error(400, "INVALID_PARAMETER_SYNTAX", field_=f"{prefix}items")
        return None

    def _upsert_tracker(
        self, capture: PayPalCapture, body: dict, order_id: str | None, notify_key: str
    ) -> bool:
        """Add the tracker, or refresh an existing one for the same number; True when the world changed."""
        world = self.sandbox.world
        number = body["tracking_number"]
        status = body.get("status") or "SHIPPED"
        existing = world.paypal_trackers.get(f"{capture.id}-{number}")
        if existing is not None:
            if existing.status == status and existing.carrier == body["carrier"]:
                return False
            existing.status, existing.carrier, existing.update_time = status, body["carrier"], world.clock
            world.changed()
            return True
        tracker = PayPalTracker(
            transaction_id=capture.id,
            tracking_number=number,
            carrier=body["carrier"],
            status=status,
            create_time=world.clock,
            update_time=world.clock,
            order_id=order_id,
            notify_payer=bool(body.get(notify_key, False)),
        )
        if body.get("items"):
            self.state.tracker_items[tracker.id] = body["items"]
        add_tracker(world, self.state, tracker)
        return True

    # --- Add Tracking v1
    async def list_trackers(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        txn = request.query_params.get("transaction_id")
        if not txn:
            return invalid_query("transaction_id", "MISSING_REQUIRED_PARAMETER")
        world = self.sandbox.world
        if world.paypal_captures.get(txn) is None:
            return error(
                404,
                details=[
                    {
                        "field": "transaction_id",
                        "value": txn,
                        "location": "query",
                        "issue": "INVALID_TRANSACTION_ID",
                    }
                ],
            )
        number = request.query_params.get("tracking_number")
        trackers = [
            t
            for t in trackers_by_capture(world, self.state).get(txn, ())
            if number is None or t.tracking_number == number
        ]
        self_href = f"{self.render.base}/v1/shipping/trackers?{urlencode(request.query_params.multi_items())}"
        return _json(
            {
                "trackers": [self.render.tracker(t) for t in trackers],
                "links": [{"href": self_href, "rel": "self", "method": "GET"}],
            }
        )

    def _tracker_or_404(self, tracker_id: str) -> PayPalTracker | Response:
        tracker = self.sandbox.world.paypal_trackers.get(tracker_id)
        if tracker is None:
            return error(
                404,
                details=[
                    {
                        "field": "tracker_id",
                        "value": tracker_id,
                        "location": "path",
                        "issue": "INVALID_TRACKER_ID",
                        "description": "Invalid data provided",
                    }
                ],
            )
        return tracker

    async def get_tracker(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        found = self._tracker_or_404(request.path_params["tracker_id"])
        if isinstance(found, Response):
            return found
        return _json(self.render.tracker(found))

    async def put_tracker(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        raw = await request.body()
        found = self._tracker_or_404(request.path_params["tracker_id"])
        if isinstance(found, Response):
            self.sandbox.stats.mutation(API, "trackers.update", applied=False)
            return found
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return error(400, details=[{"field": "/", "location": "body", "issue": "MALFORMED_REQUEST_JSON"}])
        status = body.get("status")
        if status not in TRACKING_STATUSES:
            return error(
                400,
                details=[
                    {
                        "field": "/status",
                        "value": str(status),
                        "location": "body",
                        "issue": "INVALID_PARAMETER_VALUE",
                    }
                ],
            )
        carrier = body.get("carrier", found.carrier)
        if not isinstance(carrier, str) or not CARRIER.match(carrier):
            return error(
                400,
                details=[
                    {
                        "field": "/carrier",
                        "value": str(carrier),
                        "location": "body",
                        "issue": "INVALID_PARAMETER_VALUE",
                    }
                ],
            )
        changed = (status, carrier) != (found.status, found.carrier)
        if changed:
            found.status, found.carrier, found.update_time = status, carrier, self.sandbox.world.clock
            if "notify_buyer" in body:
                found.notify_payer = bool(body["notify_buyer"])
            self.sandbox.world.changed()
        self.sandbox.stats.mutation(API, "trackers.update", applied=changed)
        return Response(status_code=204, headers={"Paypal-Debug-Id": debug_id()})

    async def add_trackers(self, request: Request) -> Response:
        """POST /v1/shipping/trackers and /v1/shipping/trackers-batch: up to 20 trackers, per-item errors."""
        denied = self.authorize(request)
        if denied is not None:
            return denied
        batch = request.url.path.endswith("-batch")
        operation = "trackers-batch.create" if batch else "trackers.create"
        raw = await request.body()
        slot, replayed = self.replay(request, operation)
        if replayed is not None:
            self.sandbox.stats.mutation(API, operation, applied=False)
            return replayed
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        items = body.get("trackers") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 20:
            return error(
                400,
                details=[
                    {
                        "field": "/trackers",
                        "location": "body",
                        "issue": "INVALID_PARAMETER_VALUE"
                        if isinstance(items, list)
                        else "MISSING_REQUIRED_PARAMETER",
                    }
                ],
            )
        world = self.sandbox.world
        identifiers, errors, applied_any = [], [], False
        for i, item in enumerate(items):
            prefix = f"/trackers/{i}/"
            if not isinstance(item, dict):
                errors.append(self._item_error(400, prefix, "INVALID_PARAMETER_SYNTAX", None))
                continue
            if not item.get("status"):
                errors.append(self._item_error(400, prefix + "status", "MISSING_REQUIRED_PARAMETER", None))
                continue
            problem = self._tracker_fields_problem(item, prefix, require_capture=False)
            if problem is not None:
                detail = json.loads(problem.body)["details"][0]
                errors.append(
                    self._item_error(400, detail.get("field", prefix), detail["issue"], detail.get("value"))
                )
                continue
            capture = world.paypal_captures.get(item["transaction_id"])
            if capture is None:
                errors.append(
                    self._item_error(
                        404, prefix + "transaction_id", "INVALID_TRANSACTION_ID", item["transaction_id"]
                    )
                )
                continue
            applied_any |= self._upsert_tracker(
                capture, item, order_id=capture.order_id, notify_key="notify_buyer"
            )
            identifiers.append(
                self.render.tracker_identifier(
                    world.paypal_trackers.get(f"{capture.id}-{item['tracking_number']}")
                )
            )
        self.sandbox.stats.mutation(API, operation, applied=applied_any)
        out: dict[str, Any] = {}
        if identifiers:
            out["tracker_identifiers"] = identifiers
        if batch and errors:
            out["errors"] = errors
        elif errors and not identifiers:
            first = errors[0]
            return _json(first, 404 if first["name"] == "RESOURCE_NOT_FOUND" else 400)
        out["links"] = [
            {
                "href": f"{self.render.base}{request.url.path.removeprefix('/' + API)}",
                "rel": "self",
                "method": "POST",
            }
        ]
        if identifiers:
            self.remember(slot, request.headers.get("paypal-request-id"), 200, out, applied_any)
        return _json(out, 200)

    @staticmethod
    def _item_error(status: int, field_: str, issue: str, value: str | None) -> dict[str, Any]:
        detail: dict[str, Any] = {"field": field_}
        if value is not None:
            detail["value"] = str(value)
        detail.update({"location": "body", "issue": issue})
        name = STATUS_NAMES[status]
        return {"name": name, "debug_id": debug_id(), "message": MESSAGES[name], "details": [detail]}


def build(sandbox: Sandbox) -> list[BaseRoute]:
    """The PayPal routes, mounted under /paypal."""
    api = PayPalAPI(sandbox)
    sandbox.register_error_renderer(API, render_fault)
    sandbox.stats.limit(f"{API}:requests", RATE_BURST, RATE_PER_SECOND, "access token")
    return [
        Route("/v1/oauth2/token", api.token, methods=["POST"]),
        Route("/v1/reporting/transactions", api.transactions, methods=["GET"]),
        Route("/v2/checkout/orders/{order_id}", api.get_order, methods=["GET"]),
        Route("/v2/checkout/orders/{order_id}/track", api.track, methods=["POST"]),
        Route("/v2/payments/captures/{capture_id}", api.get_capture, methods=["GET"]),
        Route("/v1/shipping/trackers", api.list_trackers, methods=["GET"]),
        Route("/v1/shipping/trackers", api.add_trackers, methods=["POST"]),
        Route("/v1/shipping/trackers-batch", api.add_trackers, methods=["POST"]),
        Route("/v1/shipping/trackers/{tracker_id}", api.get_tracker, methods=["GET"]),
        Route("/v1/shipping/trackers/{tracker_id}", api.put_tracker, methods=["PUT"]),
    ]
