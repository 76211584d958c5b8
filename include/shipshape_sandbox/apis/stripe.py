"""Stripe REST API v1 emulation over the sandbox world, served under `/stripe`.

The official `stripe` SDK works against it by changing only its base address (it requests `/v1/...`
under the base). Served: list and retrieve for payment_intents, charges, refunds, disputes and events,
`GET /v1/charges/{id}/refunds`, and `POST /v1/charges/{id}` / `POST /v1/payment_intents/{id}` (shipping,
metadata, receipt_email, description, ...). Stripe's own conventions hold throughout: bearer or basic
auth with the secret key, form-encoded bracket parameters, cursor pagination newest first, `created[...]`
filters, `expand[]`, Stripe's error envelope and codes, `Idempotency-Key` replay, `Request-Id` and
`Stripe-Version` headers, and test-mode rate limits when the sandbox runs with real limits.

Every rendered object carries the full key set of Stripe's own example object (fixtures3.json); fields
the sandbox does not model hold the value a real test-mode object of this kind would hold.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import heapq
import json
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox.apis.state import PerSandbox
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import (
    Address,
    StripeCharge,
    StripeDispute,
    StripeEvent,
    StripePaymentIntent,
    StripeRefund,
    StripeShipping,
    World,
    epoch,
)

API = "stripe"
# The account's default API version: the one stripe-python 16.1 pins, so SDK and sandbox agree.
DEFAULT_API_VERSION = "2026-10-28.endive"
EVENT_RETENTION = 30 * 86400  # Stripe lists and retrieves events from the last 30 days only
IDEMPOTENCY_TTL = timedelta(hours=24)
TEST_MODE_RATE = 25  # requests per second in test mode (live mode allows 100)
LIVE_MODE_RATE = 100
ENDPOINT_RATE = 25  # per endpoint, unless stated otherwise
PI_UPDATES_PER_HOUR = 1000  # per PaymentIntent
EMBEDDED_LIST_LIMIT = 10

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_rng = random.Random()


def _request_id() -> str:
    return "req_" + "".join(_rng.choices(_B62, k=14))


@lru_cache(maxsize=200_000)
def _token(label: str, n: int) -> str:
    """A stable base62 token for ids the sandbox does not store (pm_, client secrets, fingerprints)."""
    value = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=24).digest(), "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, 62)
        out.append(_B62[r])
    return "".join(out)


def _digest(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big")


# ---------------------------------------------------------------------------------------------- errors
class StripeError(Exception):
    """An error answered in Stripe's envelope. `cacheable` is False for requests that fail before the
    endpoint starts executing (auth, rate limit, parameter validation): Stripe does not save those
    results under an idempotency key."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        cacheable: bool = False,
        headers: dict[str, str] | None = None,
        log_url: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.cacheable = cacheable
        self.headers = headers or {}
        self.log_url = log_url

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        if self.log_url:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error["type"] = self.type
        return {"error": error}


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def _unknown(names: list[str]) -> StripeError:
    if len(names) == 1:
        return _invalid(f"Received unknown parameter: {names[0]}", param=names[0], code="parameter_unknown")
    return _invalid(f"Received unknown parameters: {', '.join(names)}", param=names[0], code="parameter_unknown")


def _missing(param: str) -> StripeError:
    return _invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def _no_such(kind: str, object_id: str, param: str, status: int) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing", cacheable=True)


# ------------------------------------------------------------------------------------------ parameters
def parse_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rack-style bracket parameters as Stripe reads them: `a[b][c]=v`, `a[]=v`, `a[0]=v`.

    Arrays stay dicts keyed by index ('0', '1', ...) here; `_as_list` turns them into lists where the
    parameter is an array, so a metadata key that happens to be numeric stays a key.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, bracket, rest = key.partition("[")
        parts = [head]
        if bracket:
            tail = "[" + rest
            inner = []
            pos = 0
            while pos < len(tail):
                end = tail.find("]", pos)
                if tail[pos] != "[" or end < 0 or "[" in tail[pos + 1 : end]:
                    raise _invalid(f"Invalid parameter name: {key}", param=key)
                inner.append(tail[pos + 1 : end])
                pos = end + 1
            parts += inner
        if not head:
            raise _invalid(f"Invalid parameter name: {key}", param=key)
        node = root
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                raise _invalid("Invalid hash", param=_param_name(parts[:i]))
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise _invalid("Invalid hash", param=_param_name(parts[: i + 1]))
                node[part] = value
            else:
                child = node.get(part)
                if child is None or child == "":
                    child = node[part] = {}
                node = child
    return root


def _param_name(parts: list[str]) -> str:
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def _as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, dict):
        if not all(k.isdigit() for k in value):
            raise _invalid("Invalid array", param=param)
        return [value[k] for k in sorted(value, key=int)]
    if value == "":
        return []
    raise _invalid("Invalid array", param=param)


def _as_int(value: Any, param: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    raise _invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def _as_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {_ruby_hash(value)}", param=param, code="parameter_invalid_string")
    return value


def _ruby_hash(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}"=>{_ruby_hash(v)}' for k, v in value.items()) + "}"
    return f'"{value}"'


def _check_known(params: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = set(allowed)
    unknown = [f"{prefix}[{k}]" if prefix else k for k in params if k not in allowed]
    if unknown:
        raise _unknown(sorted(unknown))


# --------------------------------------------------------------------------------------------- render
# Templates hold every field of Stripe's example objects with the values a real test-mode object holds
# when the sandbox does not model the field. Rendering copies a template shallowly and builds every
# varying nested value fresh; the nested template values that are shared are never mutated.
_PI_TEMPLATE: dict[str, Any] = {
    "id": None,
    "object": "payment_intent",
    "amount": 0,
    "amount_capturable": 0,
    "amount_details": {"tip": {}},
    "amount_received": 0,
    "application": None,
    "application_fee_amount": None,
    "automatic_payment_methods": None,
    "canceled_at": None,
    "cancellation_reason": None,
    "capture_method": "automatic",
    "client_secret": None,
    "confirmation_method": "automatic",
    "created": 0,
    "currency": "usd",
    "customer": None,
    "customer_account": None,
    "description": None,
    "excluded_payment_method_types": None,
    "last_payment_error": None,
    "latest_charge": None,
    "livemode": False,
    "managed_payments": None,
    "metadata": {},
    "next_action": None,
    "on_behalf_of": None,
    "payment_method": None,
    "payment_method_configuration_details": None,
    "payment_method_options": {
        "card": {
            "installments": None,
            "mandate_options": None,
            "network": None,
            "request_three_d_secure": "automatic",
        }
    },
    "payment_method_types": ["card"],
    "processing": None,
    "receipt_email": None,
    "review": None,
    "setup_future_usage": None,
    "shipping": None,
    "source": None,
    "statement_descriptor": None,
    "statement_descriptor_suffix": None,
    "status": "requires_payment_method",
    "transfer_data": None,
    "transfer_group": None,
}

_CHARGE_TEMPLATE: dict[str, Any] = {
    "id": None,
    "object": "charge",
    "amount": 0,
    "amount_captured": 0,
    "amount_refunded": 0,
    "application": None,
    "application_fee": None,
    "application_fee_amount": None,
    "balance_transaction": None,
    "billing_details": None,
    "calculated_statement_descriptor": "SHIPSHAPE SANDBOX",
    "captured": False,
    "created": 0,
    "currency": "usd",
    "customer": None,
    "description": None,
    "disputed": False,
    "failure_balance_transaction": None,
    "failure_code": None,
    "failure_message": None,
    "fraud_details": {},
    "livemode": False,
    "metadata": {},
    "on_behalf_of": None,
    "outcome": None,
    "paid": False,
    "payment_intent": None,
    "payment_method": None,
    "payment_method_details": None,
    "receipt_email": None,
    "receipt_number": None,
    "receipt_url": None,
    "refunded": False,
    "refunds": None,
    "review": None,
    "shipping": None,
    "source": None,
    "source_transfer": None,
    "statement_descriptor": None,
    "statement_descriptor_suffix": None,
    "status": "succeeded",
    "transfer_data": None,
    "transfer_group": None,
}

_REFUND_TEMPLATE: dict[str, Any] = {
    "id": None,
    "object": "refund",
    "amount": 0,
    "balance_transaction": None,
    "charge": None,
    "created": 0,
    "currency": "usd",
    "customer": None,
    "customer_account": None,
    "destination_details": None,
    "metadata": {},
    "payment_intent": None,
    "payment_method": None,
    "reason": None,
    "receipt_number": None,
    "source_transfer_reversal": None,
    "status": "succeeded",
    "transfer_reversal": None,
}

_EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
    "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
    "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
    "service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
    "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
)  # fmt: skip
_EMPTY_EVIDENCE: dict[str, Any] = {**dict.fromkeys(_EVIDENCE_FIELDS), "enhanced_evidence": {}}

_DISPUTE_TEMPLATE: dict[str, Any] = {
    "id": None,
    "object": "dispute",
    "amount": 0,
    "balance_transactions": [],
    "charge": None,
    "created": 0,
    "currency": "usd",
    "enhanced_eligibility_types": [],
    "evidence": _EMPTY_EVIDENCE,
    "evidence_details": None,
    "is_charge_refundable": False,
    "livemode": False,
    "metadata": {},
    "payment_intent": None,
    "payment_method_details": None,
    "reason": "general",
    "status": "needs_response",
}

_EVENT_TEMPLATE: dict[str, Any] = {
    "id": None,
    "object": "event",
    "api_version": DEFAULT_API_VERSION,
    "created": 0,
    "data": None,
    "livemode": False,
    "pending_webhooks": 0,
    "request": None,
    "type": None,
}

TEMPLATES = {
    "payment_intent": _PI_TEMPLATE,
    "charge": _CHARGE_TEMPLATE,
    "refund": _REFUND_TEMPLATE,
    "dispute": _DISPUTE_TEMPLATE,
    "event": _EVENT_TEMPLATE,
}

_CARDS = (("visa", "4242", "credit"), ("visa", "1881", "debit"), ("mastercard", "4444", "credit"),
          ("mastercard", "8210", "debit"), ("amex", "8431", "credit"), ("discover", "1117", "credit"))  # fmt: skip
_NETWORK_REASON = {
    "fraudulent": "10.4", "product_not_received": "13.1", "duplicate": "12.6.1",
    "credit_not_processed": "13.6", "subscription_canceled": "13.2", "product_unacceptable": "13.3",
    "unrecognized": "10.4", "general": "13.1",
}  # fmt: skip
_DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
}


@lru_cache(maxsize=200_000)
def _card(charge_id: str) -> tuple[str, str, str, int, int, str]:
    """The card behind a charge, stable per charge: brand, last4, funding, exp month/year, fingerprint."""
    h = _digest("card:" + charge_id)
    brand, last4, funding = _CARDS[h % len(_CARDS)]
    return brand, last4, funding, 1 + (h >> 8) % 12, 2027 + (h >> 16) % 5, _token("fp:" + charge_id, 16)


def _payment_method_id(payment_intent: str | None, charge_id: str) -> str:
    return "pm_" + _token("pm:" + (payment_intent or charge_id), 24)


def render_shipping(shipping: StripeShipping | None) -> dict[str, Any] | None:
    if shipping is None:
        return None
    a = shipping.address
    return {
        "address": {
            "city": a.city,
            "country": a.country_code,
            "line1": a.address1,
            "line2": a.address2,
            "postal_code": a.zip,
            "state": a.province_code,
        },
        "carrier": shipping.carrier,
        "name": shipping.name,
        "phone": shipping.phone,
        "tracking_number": shipping.tracking_number,
    }


class StripeState:
    """What the Stripe emulation keeps beside the world: idempotency results, rate-limit buckets, the
    request behind each API-made event, fields set through the API that the world does not model, and
    per-revision indexes for filtered lists."""

    def __init__(self, sandbox: Sandbox, clock: Callable[[], float] = time.monotonic) -> None:
        self.sandbox = sandbox
        self.set_clock(clock)
        self.idempotency: dict[tuple[str, str], _Saved] = {}
        self.event_requests: dict[str, tuple[str | None, str | None, dict[str, Any] | None]] = {}
        self.extras: dict[str, dict[str, Any]] = {}  # object id -> {field: value} set through the API
        self._index_revision = -1
        self._indexes: dict[Any, Any] = {}

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Rebuild the rate-limit buckets on `clock` (tests drive refills without sleeping)."""
        self.clock = clock
        self.global_buckets = {
            rate: Buckets(rate, rate, clock) for rate in (TEST_MODE_RATE, LIVE_MODE_RATE)
        }
        self.endpoint_buckets = Buckets(ENDPOINT_RATE, ENDPOINT_RATE, clock)
        self.pi_update_buckets = Buckets(PI_UPDATES_PER_HOUR, PI_UPDATES_PER_HOUR / 3600, clock)

    @property
    def world(self) -> World:
        return self.sandbox.world

    # --- indexes for filtered lists, rebuilt once per world revision
    def index(self, name: str, rows: list[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
        revision = self.world.revision
        if revision != self._index_revision:
            self._indexes.clear()
            self._index_revision = revision
        found = self._indexes.get(name)
        if found is None:
            found = {}
            for row in rows:  # rows are newest first, so every group is too
                k = key(row)
                if k is not None:
                    found.setdefault(k, []).append(row)
            self._indexes[name] = found
        return found

    def memo(self, name: Any, build: Callable[[], Any]) -> Any:
        revision = self.world.revision
        if revision != self._index_revision:
            self._indexes.clear()
            self._index_revision = revision
        found = self._indexes.get(name)
        if found is None:
            found = self._indexes[name] = build()
        return found

    # --- rendering
    def render_payment_intent(self, pi: StripePaymentIntent, extras: dict[str, Any] | None = None) -> dict:
        o = dict(_PI_TEMPLATE)
        o["id"] = pi.id
        o["amount"] = pi.amount
        o["amount_capturable"] = pi.amount_capturable
        o["amount_received"] = pi.amount_received
        o["canceled_at"] = pi.canceled_at
        o["cancellation_reason"] = pi.cancellation_reason
        o["capture_method"] = pi.capture_method
        o["client_secret"] = f"{pi.id}_secret_{_token('secret:' + pi.id, 25)}"
        o["created"] = pi.created
        o["currency"] = pi.currency
        o["customer"] = pi.customer
        o["description"] = pi.description
        if pi.last_payment_error_code:
            code = pi.last_payment_error_code
            o["last_payment_error"] = {
                "charge": pi.latest_charge,
                "code": code,
                "decline_code": "generic_decline" if code == "card_declined" else None,
                "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                "message": _DECLINE_MESSAGES.get(code, "Your card was declined."),
                "payment_method": {"id": _payment_method_id(pi.id, pi.latest_charge or ""), "object": "payment_method"},
                "type": "card_error",
            }
        o["latest_charge"] = pi.latest_charge
        o["metadata"] = pi.metadata
        if pi.status != "requires_payment_method" or pi.latest_charge:
            o["payment_method"] = _payment_method_id(pi.id, pi.latest_charge or "")
        o["receipt_email"] = pi.receipt_email
        o["shipping"] = render_shipping(pi.shipping)
        o["status"] = pi.status
        extras = self.extras.get(pi.id) if extras is None else extras
        if extras:
            o.update(extras)
        return o

    def render_charge(self, ch: StripeCharge, as_of: int | None = None, extras: dict[str, Any] | None = None) -> dict:
        o = dict(_CHARGE_TEMPLATE)
        world = self.world
        pi = world.stripe_payment_intents.get(ch.payment_intent) if ch.payment_intent else None
        brand, last4, funding, exp_month, exp_year, fingerprint = _card(ch.id)
        o["id"] = ch.id
        o["amount"] = ch.amount
        o["amount_captured"] = ch.amount_captured
        o["amount_refunded"] = ch.amount_refunded
        o["balance_transaction"] = ch.balance_transaction
        o["billing_details"] = {
            "address": {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None},
            "email": None,
            "name": ch.billing_name,
            "phone": None,
            "tax_id": None,
        }
        o["captured"] = ch.captured
        o["created"] = ch.created
        o["currency"] = ch.currency
        o["customer"] = pi.customer if pi is not None else None
        o["description"] = pi.description if pi is not None else None
        o["disputed"] = ch.disputed
        o["failure_code"] = ch.failure_code
        o["failure_message"] = ch.failure_message
        o["metadata"] = ch.metadata
        if ch.status == "failed":
            code = ch.failure_code or "card_declined"
            o["outcome"] = {
                "advice_code": "try_again_later" if code == "card_declined" else None,
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "declined_by_network",
                "reason": "generic_decline" if code == "card_declined" else code,
                "risk_level": "normal",
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            }
        else:
            o["outcome"] = {
                "advice_code": None,
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            }
        o["paid"] = ch.paid
        o["payment_intent"] = ch.payment_intent
        o["payment_method"] = _payment_method_id(ch.payment_intent, ch.id)
        approved = ch.status != "failed"
        o["payment_method_details"] = {
            "card": {
                "amount_authorized": ch.amount if approved else None,
                "authorization_code": None,
                "brand": brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "exp_month": exp_month,
                "exp_year": exp_year,
                "extended_authorization": {"status": "disabled"},
                "fingerprint": fingerprint,
                "funding": funding,
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": last4,
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": brand,
                "network_token": {"used": False},
                "network_transaction_id": _token("ntid:" + ch.id, 15) if approved else None,
                "overcapture": {"maximum_amount_capturable": ch.amount, "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        }
        o["receipt_email"] = ch.receipt_email
        if approved:
            o["receipt_url"] = f"https://pay.stripe.com/receipts/payment/{_token('receipt:' + ch.id, 96)}"
        o["refunded"] = ch.refunded
        o["refunds"] = self._charge_refunds(ch.id, as_of)
        o["shipping"] = render_shipping(ch.shipping)
        o["status"] = ch.status
        extras = self.extras.get(ch.id) if extras is None else extras
        if extras:
            o.update(extras)
        return o

    def refunds_of_charge(self, charge_id: str) -> list[StripeRefund]:
        rows = self.world.stripe_refunds.sorted_by("created", reverse=True)
        return self.index("refunds.charge", rows, _attr("charge")).get(charge_id, [])

    def _charge_refunds(self, charge_id: str, as_of: int | None) -> dict[str, Any]:
        refunds = self.refunds_of_charge(charge_id)
        if as_of is not None:
            refunds = [r for r in refunds if r.created <= as_of]
        page = refunds[:EMBEDDED_LIST_LIMIT]
        return {
            "object": "list",
            "data": [self.render_refund(r) for r in page],
            "has_more": len(refunds) > len(page),
            "url": f"/v1/charges/{charge_id}/refunds",
        }

    def render_refund(self, re_: StripeRefund, extras: dict[str, Any] | None = None) -> dict:
        o = dict(_REFUND_TEMPLATE)
        o["id"] = re_.id
        o["amount"] = re_.amount
        if re_.status in ("succeeded", "pending"):
            o["balance_transaction"] = "txn_" + _token("txn:" + re_.id, 24)
        o["charge"] = re_.charge
        o["created"] = re_.created
        o["currency"] = re_.currency
        o["destination_details"] = {
            "card": {
                "reference": _token("arn:" + re_.id, 23) if re_.status == "succeeded" else None,
                "reference_status": "available" if re_.status == "succeeded" else "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        }
        o["metadata"] = re_.metadata
        o["payment_intent"] = re_.payment_intent
        o["payment_method"] = _payment_method_id(re_.payment_intent, re_.charge)
        o["reason"] = re_.reason
        o["status"] = re_.status
        extras = self.extras.get(re_.id) if extras is None else extras
        if extras:
            o.update(extras)
        return o

    def render_dispute(self, dp: StripeDispute, extras: dict[str, Any] | None = None) -> dict:
        o = dict(_DISPUTE_TEMPLATE)
        brand = _card(dp.charge)[0]
        # Evidence is due about two weeks after the dispute opens, at the end of that day (UTC).
        due_by = (dp.created + 14 * 86400) // 86400 * 86400 + 86399
        open_ = dp.status in ("warning_needs_response", "needs_response")
        o["id"] = dp.id
        o["amount"] = dp.amount
        o["charge"] = dp.charge
        o["created"] = dp.created
        o["currency"] = dp.currency
        o["evidence_details"] = {
            "due_by": due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": open_ and epoch(self.world.clock) > due_by,
            "submission_count": 0,
        }
        o["is_charge_refundable"] = dp.status.startswith("warning_")
        o["payment_intent"] = dp.payment_intent
        o["payment_method_details"] = {
            "card": {
                "brand": brand,
                "case_type": "inquiry" if dp.status.startswith("warning_") else "chargeback",
                "network": brand,
                "network_reason_code": _NETWORK_REASON.get(dp.reason, "13.1"),
            },
            "type": "card",
        }
        o["reason"] = dp.reason
        o["status"] = dp.status
        extras = self.extras.get(dp.id) if extras is None else extras
        if extras:
            o.update(extras)
        return o

    def render_object(self, obj: Any, as_of: int | None = None, extras: dict[str, Any] | None = None) -> Any:
        if isinstance(obj, StripeCharge):
            return self.render_charge(obj, as_of, extras)
        if isinstance(obj, StripePaymentIntent):
            return self.render_payment_intent(obj, extras)
        if isinstance(obj, StripeRefund):
            return self.render_refund(obj, extras)
        if isinstance(obj, StripeDispute):
            return self.render_dispute(obj, extras)
        return obj

    def render_event(self, ev: StripeEvent) -> dict:
        o = dict(_EVENT_TEMPLATE)
        request_id, idempotency_key, extras = self.event_requests.get(ev.id, (None, None, None))
        data: dict[str, Any] = {"object": self.render_object(ev.snapshot, as_of=ev.created, extras=extras)}
        if ev.previous_attributes is not None:
            data["previous_attributes"] = ev.previous_attributes
        o["id"] = ev.id
        o["created"] = ev.created
        o["data"] = data
        o["request"] = {"id": request_id, "idempotency_key": idempotency_key}
        o["type"] = ev.type
        return o


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, name)


# The Stripe emulation's state for this sandbox (tests use it to drive the rate-limit clock).
state_for: PerSandbox[StripeState] = PerSandbox(StripeState)


# ------------------------------------------------------------------------------------------- resources
@dataclass(frozen=True)
class Resource:
    """One listable Stripe object kind."""

    kind: str  # payment_intent | charge | refund | dispute | event
    path: str  # /v1/charges
    table: str  # World attribute
    filters: tuple[str, ...]  # scalar list filters besides the common ones
    expandable: dict[str, str] = field(default_factory=dict)  # field -> resource kind it expands to
    id_prefixes: tuple[str, ...] = ()


RESOURCES = {
    "payment_intent": Resource(
        "payment_intent", "/v1/payment_intents", "stripe_payment_intents", ("customer", "customer_account"),
        {"latest_charge": "charge"}, ("pi_",),
    ),
    "charge": Resource(
        "charge", "/v1/charges", "stripe_charges", ("customer", "payment_intent", "transfer_group"),
        {"payment_intent": "payment_intent"}, ("ch_", "py_"),
    ),
    "refund": Resource(
        "refund", "/v1/refunds", "stripe_refunds", ("charge", "payment_intent"),
        {"charge": "charge", "payment_intent": "payment_intent"}, ("re_", "pyr_"),
    ),
    "dispute": Resource(
        "dispute", "/v1/disputes", "stripe_disputes", ("charge", "payment_intent"),
        {"charge": "charge", "payment_intent": "payment_intent"}, ("dp_", "du_"),
    ),
    "event": Resource("event", "/v1/events", "stripe_events", ("type", "delivery_success"), {}, ("evt_",)),
}


def _position(rows: list[Any], created: int, object_id: str) -> int:
    """Index of the first row at or after (created, id) in a list ordered newest first."""
    lo, hi = 0, len(rows)
    while lo < hi:
        mid = (lo + hi) // 2
        row = rows[mid]
        if row.created > created or (row.created == created and row.id > object_id):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _created_bounds(rows: list[Any], created: Any) -> tuple[int, int]:
    """The slice of a newest-first list that a `created` filter keeps."""
    start, end = 0, len(rows)
    if created is None:
        return start, end
    if isinstance(created, str):
        value = _as_int(created, "created")
        bounds = {"gte": value, "lte": value}
    else:
        _check_known(created, ("gt", "gte", "lt", "lte"), "created")
        bounds = {op: _as_int(v, f"created[{op}]") for op, v in created.items()}

    def neg(row: Any) -> int:
        return -row.created

    if "lt" in bounds:
        start = max(start, bisect_right(rows, -bounds["lt"], key=neg))
    if "lte" in bounds:
        start = max(start, bisect_left(rows, -bounds["lte"], key=neg))
    if "gt" in bounds:
        end = min(end, bisect_left(rows, -bounds["gt"], key=neg))
    if "gte" in bounds:
        end = min(end, bisect_right(rows, -bounds["gte"], key=neg))
    return start, max(start, end)


# ------------------------------------------------------------------------------------------- requests
@dataclass
class Ctx:
    request: Request
    request_id: str
    api_key: str
    params: dict[str, Any]
    idempotency_key: str | None = None


@dataclass
class _Saved:
    """An idempotent request's first result, replayed for the same key and parameters for 24 hours."""

    created: Any  # world clock when first used
    method: str
    path: str
    fingerprint: tuple
    status: int
    body: bytes
    request_id: str


def _mask_key(key: str) -> str:
    for prefix in ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"):
        if key.startswith(prefix) and len(key) > len(prefix) + 4:
            rest = key[len(prefix) :]
            return prefix + "*" * (len(rest) - 4) + rest[-4:]
    if len(key) > 4:
        return "*" * (len(key) - 4) + key[-4:]
    return key


def _route_path(request: Request) -> str:
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _json_default(value: Any) -> Any:
    if isinstance(value, StripeShipping):
        return render_shipping(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


def _respond(status: int, body: bytes, request_id: str, version: str, headers: dict[str, str] | None = None) -> Response:
    out = {"Request-Id": request_id, "Stripe-Version": version, "Cache-Control": "no-cache, no-store"}
    if headers:
        out.update(headers)
    return Response(body, status_code=status, media_type="application/json", headers=out)


class _Api:
    """The routes' shared machinery: auth, rate limits, parameters, idempotency and listing."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.state = state_for(sandbox)

    @property
    def world(self) -> World:
        return self.sandbox.world

    # --- auth and limits
    def authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
                log_url=False,
            )
        if key != self.sandbox.credentials.stripe_secret_key:
            raise StripeError(
                401,
                f"Invalid API Key provided: {_mask_key(key)}",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
                log_url=False,
            )
        return key

    def throttle(self, key: str, endpoint: str) -> None:
        if not self.sandbox.rate_limited:
            return
        rate = LIVE_MODE_RATE if key.startswith(("sk_live_", "rk_live_")) else TEST_MODE_RATE
        ok, _ = self.state.global_buckets[rate][key].try_take(1)
        if ok:
            self.sandbox.stats.charge(f"{API}:requests", 1)
            ok, _ = self.state.endpoint_buckets[f"{key}:{endpoint}"].try_take(1)
        if not ok:
            raise rate_limit_error()

    # --- dispatch
    def route(
        self,
        template: str,
        handler: Callable[[Ctx], Any],
        methods: tuple[str, ...] = ("GET",),
        operation: str | None = None,
    ) -> Route:
        """A route running `handler` after auth and rate limits. A GET handler returns (status, payload);
        a POST handler returns (status, payload, applied) and runs under the idempotency rules."""
        api = self
        writes = methods == ("POST",)

        async def endpoint(request: Request) -> Response:
            request_id = _request_id()
            version = request.headers.get("stripe-version") or DEFAULT_API_VERSION
            body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
            # No awaits from here on: the event loop serialises every read and write of the world.
            try:
                key = api.authenticate(request)
                api.throttle(key, f"{request.method} {template}")
                pairs = list(request.query_params.multi_items())
                if body:
                    pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                params = parse_params(pairs)
                ctx = Ctx(request, request_id, key, params, request.headers.get("idempotency-key") or None)
                if writes:
                    return api.post(ctx, handler, operation or template, version)
                status, payload = handler(ctx)
                return _respond(status, _dumps(payload), request_id, version)
            except StripeError as err:
                return _respond(err.status, _dumps(err.body(request_id)), request_id, version, err.headers)

        return Route(template, endpoint, methods=list(methods))

    def post(self, ctx: Ctx, handler: Callable[[Ctx], Any], operation: str, version: str) -> Response:
        """Run a state-changing request under Stripe's idempotency rules."""
        key = ctx.idempotency_key
        stats = self.sandbox.stats
        if not key:
            try:
                status, payload, applied = handler(ctx)
            except StripeError:
                stats.mutation(API, operation, False)
                raise
            stats.mutation(API, operation, applied)
            return _respond(status, _dumps(payload), ctx.request_id, version)

        if len(key) > 255:
            raise _invalid(
                "Invalid idempotency key: the key must be no longer than 255 characters.",
                param="idempotency_key",
            )
        path = _route_path(ctx.request)
        fingerprint = tuple(sorted(_flatten(ctx.params)))
        store = self.state.idempotency
        slot = (ctx.api_key, key)
        saved = store.get(slot)
        if saved is not None and self.world.clock - saved.created > IDEMPOTENCY_TTL:
            del store[slot]  # keys expire after 24 hours: the key is new again
            saved = None
        if saved is not None:
            stats.mutation(API, operation, False)
            if (saved.method, saved.path) != (ctx.request.method, path):
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                    f"('{saved.path}' vs '{path}'). Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    type_="idempotency_error",
                )
            if saved.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    type_="idempotency_error",
                )
            stats.idempotent_replays[API] += 1
            headers = {"Idempotency-Key": key, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
            return _respond(saved.status, saved.body, ctx.request_id, version, headers)

        headers = {"Idempotency-Key": key, "Original-Request": ctx.request_id}
        try:
            status, payload, applied = handler(ctx)
        except StripeError as err:
            stats.mutation(API, operation, False)
            if not err.cacheable:  # failed before the endpoint began executing: nothing is saved
                raise
            status, body = err.status, _dumps(err.body(ctx.request_id))
            store[slot] = _Saved(self.world.clock, ctx.request.method, path, fingerprint, status, body, ctx.request_id)
            return _respond(status, body, ctx.request_id, version, {**err.headers, **headers})
        stats.mutation(API, operation, applied)
        if applied:
            stats.idempotency_keys_applied[f"{API}:{key}"] += 1
        body = _dumps(payload)
        store[slot] = _Saved(self.world.clock, ctx.request.method, path, fingerprint, status, body, ctx.request_id)
        return _respond(status, body, ctx.request_id, version, headers)

    # --- reading
    def rows(self, resource: Resource) -> list[Any]:
        return getattr(self.world, resource.table).sorted_by("created", reverse=True)

    def lookup(self, kind: str, object_id: str) -> Any:
        return getattr(self.world, RESOURCES[kind].table).get(object_id)

    def expand_paths(self, params: dict[str, Any], listing: bool) -> list[str]:
        if "expand" not in params:
            return []
        paths = [_as_str(p, "expand") for p in _as_list(params["expand"], "expand")]
        out = []
        for p in paths:
            if listing:
                if not p.startswith("data."):
                    raise _invalid(f"This property cannot be expanded ({p}).", param="expand")
                p = p[len("data.") :]
            out.append(p)
        return out

    def expand(self, resource: Resource, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        for p in paths:
            if p in resource.expandable:
                value = obj.get(p)
                if isinstance(value, str):
                    target = self.lookup(resource.expandable[p], value)
                    obj[p] = self.state.render_object(target) if target is not None else value
            elif p in obj and obj[p] is None:
                continue  # expanding an empty reference leaves it null, as Stripe does
            else:
                raise _invalid(f"This property cannot be expanded ({p}).", param="expand")
        return obj

    def finish(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Hostile mode: malform the rendered object the way the seed says this record is malformed."""
        faults = self.sandbox.faults
        if faults.mode != "hostile":
            return obj
        if resource.kind == "event":
            return faults.corrupt(
                "stripe.event", obj, id_path=("id",), amount_path=("data", "object", "amount"),
                currency_path=("data", "object", "currency"), timestamp_path=("created",),
            )
        return faults.corrupt(
            f"stripe.{resource.kind}", obj, id_path=("id",), amount_path=("amount",),
            currency_path=("currency",), timestamp_path=("created",),
        )

    def render(self, resource: Resource, row: Any) -> dict[str, Any]:
        state = self.state
        if resource.kind == "event":
            return state.render_event(row)
        return state.render_object(row)

    def list(self, resource: Resource, ctx: Ctx, rows: list[Any] | None = None) -> tuple[int, dict]:
        params = ctx.params
        common = ("limit", "starting_after", "ending_before", "expand", "created")
        _check_known(params, common + resource.filters + (("types",) if resource.kind == "event" else ()))
        limit = 10
        if "limit" in params:
            limit = _as_int(params["limit"], "limit")
            if limit < 1:
                raise _invalid("This value must be greater than or equal to 1.", param="limit",
                               code="parameter_invalid_integer")
            if limit > 100:
                raise _invalid("This value must be less than or equal to 100.", param="limit",
                               code="parameter_invalid_integer")
        if "starting_after" in params and "ending_before" in params:
            raise _invalid("You may only specify one of these parameters: ending_before, starting_after.",
                           param="ending_before")
        expand = self.expand_paths(params, listing=True)
        if rows is None:
            rows = self.filtered_rows(resource, params)
        start, end = _created_bounds(rows, params.get("created"))
        if resource.kind == "event":
            # Only the last 30 days of events can be listed.
            horizon = epoch(self.world.clock) - EVENT_RETENTION
            end = min(end, _position(rows, horizon - 1, "\uffff"))
            end = max(start, end)
        cursor_param = "starting_after" if "starting_after" in params else (
            "ending_before" if "ending_before" in params else None)
        if cursor_param is None:
            page_start, page_end = start, min(end, start + limit)
            has_more = page_end < end
        else:
            cursor_id = _as_str(params[cursor_param], cursor_param)
            cursor = self.lookup(resource.kind, cursor_id)
            if cursor is None:
                raise _no_such(resource.kind, cursor_id, cursor_param, 400)
            pos = _position(rows, cursor.created, cursor.id)
            found = pos < len(rows) and rows[pos] is cursor
            if cursor_param == "starting_after":
                after = pos + 1 if found else pos
                if found and self.sandbox.faults.repeat_boundary():
                    after = pos  # the record that ended the previous page opens this one again
                page_start = max(start, after)
                page_end = max(page_start, min(end, page_start + limit))
                has_more = page_end < end
            else:
                page_end = max(start, min(end, pos))
                page_start = max(start, page_end - limit)
                has_more = page_start > start
        data = []
        for row in rows[page_start:page_end]:
            obj = self.render(resource, row)
            if expand:
                obj = self.expand(resource, obj, expand)
            data.append(self.finish(resource, obj))
        return 200, {"object": "list", "data": data, "has_more": has_more, "url": resource.path}

    def filtered_rows(self, resource: Resource, params: dict[str, Any]) -> list[Any]:
        rows = self.rows(resource)
        state = self.state
        active: list[list[Any]] = []
        for name in resource.filters:
            if name not in params or name in ("type", "delivery_success"):
                continue
            value = _as_str(params[name], name)
            active.append(self.filter_index(resource, name, rows).get(value, []))
        if resource.kind == "event":
            if "type" in params and "types" in params:
                raise _invalid("You may only specify one of these parameters: type, types.", param="type")
            if "delivery_success" in params:
                flag = _as_str(params["delivery_success"], "delivery_success")
                if flag not in ("true", "false"):
                    raise _invalid(f"Invalid boolean: {flag}", param="delivery_success",
                                   code="parameter_invalid_boolean")
            patterns: list[str] | None = None
            if "type" in params:
                patterns = [_as_str(params["type"], "type")]
            elif "types" in params:
                patterns = [_as_str(t, "types") for t in _as_list(params["types"], "types")]
                if len(patterns) > 20:
                    raise _invalid("You may pass up to 20 types.", param="types")
            if patterns is not None:
                active.append(state.memo(("events.types", tuple(patterns)), lambda: self.events_of(rows, patterns)))
        if not active:
            return rows
        if len(active) == 1:
            return active[0]
        keep = set.intersection(*(set(map(id, group)) for group in active[1:]))
        return [row for row in active[0] if id(row) in keep]

    def filter_index(self, resource: Resource, name: str, rows: list[Any]) -> dict[str, list[Any]]:
        state = self.state
        world = self.world
        if resource.kind == "charge" and name == "customer":
            def charge_customer(ch: StripeCharge) -> str | None:
                pi = world.stripe_payment_intents.get(ch.payment_intent) if ch.payment_intent else None
                return pi.customer if pi is not None else None

            return state.index("charge.customer", rows, charge_customer)
        if name in ("transfer_group", "customer_account"):
            extras = state.extras
            return state.index(f"{resource.kind}.{name}", rows, lambda r: extras.get(r.id, {}).get(name))
        return state.index(f"{resource.kind}.{name}", rows, _attr(name))

    def events_of(self, rows: list[StripeEvent], patterns: list[str]) -> list[StripeEvent]:
        by_type = self.state.index("event.type", rows, _attr("type"))
        types = {t for p in patterns for t in by_type if (fnmatch.fnmatchcase(t, p) if "*" in p else t == p)}
        groups = [by_type[t] for t in sorted(types)]
        return list(heapq.merge(*groups, key=lambda e: (e.created, e.id), reverse=True))

    def retrieve(self, resource: Resource, ctx: Ctx, object_id: str) -> tuple[int, dict]:
        _check_known(ctx.params, ("expand",))
        expand = self.expand_paths(ctx.params, listing=False)
        row = self.lookup(resource.kind, object_id)
        if row is None or (
            resource.kind == "event" and row.created < epoch(self.world.clock) - EVENT_RETENTION
        ):
            raise _no_such(resource.kind, object_id, "id", 404)
        obj = self.render(resource, row)
        if expand:
            obj = self.expand(resource, obj, expand)
        return 200, self.finish(resource, obj)


def _flatten(params: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(params, dict):
        for k, v in params.items():
            yield from _flatten(v, f"{prefix}[{k}]" if prefix else k)
    else:
        yield prefix, params


def rate_limit_error() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )


# ------------------------------------------------------------------------------------------- mutations
_SHIPPING_KEYS = ("address", "carrier", "name", "phone", "tracking_number")
_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_CHARGE_UPDATE = ("customer", "description", "expand", "fraud_details", "metadata", "receipt_email", "shipping",
                  "transfer_group")  # fmt: skip
_PI_UPDATE = (
    "amount", "capture_method", "currency", "customer", "description", "expand", "metadata",
    "payment_method_types", "receipt_email", "setup_future_usage", "shipping", "statement_descriptor",
    "statement_descriptor_suffix", "transfer_group",
)  # fmt: skip
# Real PaymentIntent update parameters that touch payment machinery the sandbox does not emulate.
_PI_NOT_EMULATED = (
    "allowed_payment_method_types", "amount_details", "application_fee_amount", "customer_account",
    "excluded_payment_method_types", "hooks", "payment_details", "payment_method", "payment_method_configuration",
    "payment_method_data", "payment_method_options", "transfer_data",
)  # fmt: skip
_PI_EDITABLE_STATUSES = ("requires_payment_method", "requires_confirmation", "requires_action")


def _shipping_from_params(value: Any) -> StripeShipping:
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param="shipping", code="parameter_invalid_object")
    _check_known(value, _SHIPPING_KEYS, "shipping")
    if "name" not in value:
        raise _missing("shipping[name]")
    if "address" not in value:
        raise _missing("shipping[address]")
    address = value["address"]
    if not isinstance(address, dict):
        raise _invalid("Invalid object", param="shipping[address]", code="parameter_invalid_object")
    _check_known(address, _ADDRESS_KEYS, "shipping[address]")
    fields = {k: _as_str(v, f"shipping[address][{k}]") for k, v in address.items()}
    scalars = {k: _as_str(value[k], f"shipping[{k}]") for k in ("carrier", "name", "phone", "tracking_number") if k in value}
    name = scalars["name"]
    first, _, last = name.partition(" ")

    def opt(text: str | None) -> str | None:
        return text or None

    # Stripe's address has no name and only a country code: the Address record keeps what Stripe keeps.
    return StripeShipping(
        name=name,
        address=Address(
            first_name=first,
            last_name=last,
            address1=opt(fields.get("line1")),
            address2=opt(fields.get("line2")),
            city=opt(fields.get("city")),
            province=opt(fields.get("state")),
            province_code=opt(fields.get("state")),
            zip=opt(fields.get("postal_code")),
            country=opt(fields.get("country")),
            country_code=opt(fields.get("country")),
            phone=opt(scalars.get("phone")),
        ),
        carrier=opt(scalars.get("carrier")),
        tracking_number=opt(scalars.get("tracking_number")),
        phone=opt(scalars.get("phone")),
    )


def _merged_metadata(current: dict[str, str], value: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """Stripe's metadata update: keys merge, an empty value unsets a key, an empty string clears all.
    Returns the new metadata and the previous values of the keys that changed."""
    if value == "":
        return {}, dict(current)
    if not isinstance(value, dict):
        raise _invalid("Invalid object", param="metadata", code="parameter_invalid_object")
    new = dict(current)
    previous: dict[str, Any] = {}
    for k, v in value.items():
        v = _as_str(v, f"metadata[{k}]")
        if len(k) > 40:
            raise _invalid("Metadata keys can have up to 40 characters.", param=f"metadata[{k}]")
        if len(v) > 500:
            raise _invalid("Metadata values can have up to 500 characters.", param=f"metadata[{k}]")
        if v == "":
            if k in new:
                previous[k] = new.pop(k)
        elif new.get(k) != v:
            previous[k] = new.get(k)
            new[k] = v
    if len(new) > 50:
        raise _invalid("You can specify up to 50 metadata keys.", param="metadata")
    return new, previous


def _email(value: Any, param: str) -> str | None:
    text = _as_str(value, param)
    if text == "":
        return None
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain:
        raise _invalid(f"Invalid email address: {text}", param=param, code="email_invalid")
    return text


def _update_charge(api: _Api, ctx: Ctx, charge_id: str) -> tuple[int, dict, bool]:
    params = ctx.params
    _check_known(params, _CHARGE_UPDATE)
    expand = api.expand_paths(params, listing=False)
    shipping = _shipping_from_params(params["shipping"]) if "shipping" in params else None
    metadata_param = params.get("metadata")
    email = _email(params["receipt_email"], "receipt_email") if "receipt_email" in params else None
    extras_in: dict[str, Any] = {}
    for name in ("customer", "description", "transfer_group"):
        if name in params:
            extras_in[name] = _as_str(params[name], name) or None
    if "fraud_details" in params:
        fraud = params["fraud_details"]
        if not isinstance(fraud, dict):
            raise _invalid("Invalid object", param="fraud_details", code="parameter_invalid_object")
        _check_known(fraud, ("user_report",), "fraud_details")
        report = _as_str(fraud.get("user_report", ""), "fraud_details[user_report]")
        if report not in ("", "fraudulent", "safe"):
            raise _invalid("Invalid fraud_details[user_report]: must be one of fraudulent or safe",
                           param="fraud_details[user_report]")
        extras_in["fraud_details"] = {"user_report": report} if report else {}

    # Validation is over: the endpoint executes from here on (and its result is saved for the key).
    state = api.state
    charge = api.world.stripe_charges.get(charge_id)
    if charge is None:
        raise _no_such("charge", charge_id, "id", 404)
    before = state.render_charge(charge)
    previous: dict[str, Any] = {}
    if metadata_param is not None:
        new_metadata, prev_md = _merged_metadata(charge.metadata, metadata_param)
        if prev_md:
            previous["metadata"] = prev_md
            charge.metadata = new_metadata  # replaced, not mutated: earlier event snapshots keep theirs
    if shipping is not None:
        rendered = render_shipping(shipping)
        if rendered != before["shipping"]:
            previous["shipping"] = before["shipping"]
            charge.shipping = shipping
    if "receipt_email" in params and email != charge.receipt_email:
        previous["receipt_email"] = charge.receipt_email
        charge.receipt_email = email
    if extras_in:
        current = state.extras.get(charge.id, {})
        changed = {k: v for k, v in extras_in.items() if before.get(k) != v}
        if changed:
            previous.update({k: before.get(k) for k in changed})
            state.extras[charge.id] = {**current, **changed}
    if previous:
        from shipshape_sandbox import lifecycle

        api.world.changed()
        event = lifecycle.stripe_event(api.world, "charge.updated", charge, previous)
        extras = state.extras.get(charge.id)
        state.event_requests[event.id] = (ctx.request_id, ctx.idempotency_key, dict(extras) if extras else None)
    return 200, api.expand(RESOURCES["charge"], state.render_charge(charge), expand), bool(previous)


def _update_payment_intent(api: _Api, ctx: Ctx, pi_id: str) -> tuple[int, dict, bool]:
    params = ctx.params
    not_emulated = sorted(k for k in params if k in _PI_NOT_EMULATED)
    _check_known(params, _PI_UPDATE + _PI_NOT_EMULATED)
    if not_emulated:
        raise _invalid(
            f"The sandbox does not emulate updating {not_emulated[0]} on a PaymentIntent.", param=not_emulated[0]
        )
    expand = api.expand_paths(params, listing=False)
    shipping: StripeShipping | None | str = "unchanged"
    if "shipping" in params:
        shipping = None if params["shipping"] == "" else _shipping_from_params(params["shipping"])
    metadata_param = params.get("metadata")
    email = _email(params["receipt_email"], "receipt_email") if "receipt_email" in params else None
    amount = _as_int(params["amount"], "amount") if "amount" in params else None
    if amount is not None and amount < 1:
        raise _invalid("This value must be greater than or equal to 1.", param="amount",
                       code="parameter_invalid_integer")
    currency = _as_str(params["currency"], "currency").lower() if "currency" in params else None
    capture_method = _as_str(params["capture_method"], "capture_method") if "capture_method" in params else None
    if capture_method is not None and capture_method not in ("automatic", "automatic_async", "manual"):
        raise _invalid("Invalid capture_method: must be one of automatic, automatic_async, or manual",
                       param="capture_method")
    extras_in: dict[str, Any] = {}
    for name in ("statement_descriptor", "statement_descriptor_suffix", "transfer_group", "setup_future_usage"):
        if name in params:
            extras_in[name] = _as_str(params[name], name) or None
    if "payment_method_types" in params:
        extras_in["payment_method_types"] = [
            _as_str(t, "payment_method_types") for t in _as_list(params["payment_method_types"], "payment_method_types")
        ]

    state = api.state
    pi = api.world.stripe_payment_intents.get(pi_id)
    if pi is None:
        raise _no_such("payment_intent", pi_id, "id", 404)
    if api.sandbox.rate_limited:
        ok, _ = state.pi_update_buckets[pi.id].try_take(1)
        if not ok:
            raise rate_limit_error()
    for name, value in (("amount", amount), ("currency", currency), ("capture_method", capture_method),
                        ("payment_method_types", extras_in.get("payment_method_types")),
                        ("setup_future_usage", extras_in.get("setup_future_usage"))):
        if value is not None and pi.status not in _PI_EDITABLE_STATUSES:
            raise StripeError(
                400,
                f"This PaymentIntent's {name} could not be updated because it has a status of {pi.status}. You "
                "may only update the " + name + " of a PaymentIntent with one of the following statuses: "
                + ", ".join(_PI_EDITABLE_STATUSES) + ".",
                code="payment_intent_unexpected_state",
                param=name,
                cacheable=True,
            )
    before = state.render_payment_intent(pi)
    changed = False
    if metadata_param is not None:
        new_metadata, prev_md = _merged_metadata(pi.metadata, metadata_param)
        if prev_md:
            pi.metadata, changed = new_metadata, True
    if shipping != "unchanged" and render_shipping(shipping) != before["shipping"]:
        pi.shipping, changed = shipping, True
    if "receipt_email" in params and email != pi.receipt_email:
        pi.receipt_email, changed = email, True
    if "description" in params:
        description = _as_str(params["description"], "description") or None
        if description != pi.description:
            pi.description, changed = description, True
    if "customer" in params:
        customer = _as_str(params["customer"], "customer") or None
        if customer != pi.customer:
            pi.customer, changed = customer, True
    if amount is not None and amount != pi.amount:
        pi.amount, changed = amount, True
    if currency is not None and currency != pi.currency:
        pi.currency, changed = currency, True
    if capture_method is not None and capture_method != pi.capture_method:
        pi.capture_method, changed = capture_method, True
    if extras_in:
        current = state.extras.get(pi.id, {})
        diff = {k: v for k, v in extras_in.items() if before.get(k) != v}
        if diff:
            state.extras[pi.id] = {**current, **diff}
            changed = True
    if changed:
        # Stripe has no payment_intent.updated event: an update changes the object and emits nothing.
        pi.updated = epoch(api.world.clock)
        api.world.changed()
    return 200, api.expand(RESOURCES["payment_intent"], state.render_payment_intent(pi), expand), changed


# ------------------------------------------------------------------------------------------------ build
def build(sandbox: Sandbox) -> list[BaseRoute]:
    api = _Api(sandbox)
    sandbox.register_error_renderer(API, _fault_renderer)
    sandbox.stats.limit(f"{API}:requests", TEST_MODE_RATE, TEST_MODE_RATE, "secret key (test mode, global)")
    routes: list[BaseRoute] = []
    for resource in RESOURCES.values():
        routes.append(api.route(resource.path, _lister(api, resource)))
        routes.append(api.route(resource.path + "/{id}", _retriever(api, resource)))

    def charge_refunds(ctx: Ctx) -> tuple[int, dict]:
        charge_id = ctx.request.path_params["charge"]
        if api.world.stripe_charges.get(charge_id) is None:
            raise _no_such("charge", charge_id, "charge", 404)
        resource = RESOURCES["refund"]
        _check_known(ctx.params, ("limit", "starting_after", "ending_before", "expand"))
        status, payload = api.list(resource, ctx, rows=api.state.refunds_of_charge(charge_id))
        payload["url"] = f"/v1/charges/{charge_id}/refunds"
        return status, payload

    routes.append(api.route("/v1/charges/{charge}/refunds", charge_refunds))
    routes.append(api.route(
        "/v1/charges/{id}", lambda ctx: _update_charge(api, ctx, ctx.request.path_params["id"]),
        methods=("POST",), operation="charges.update",
    ))
    routes.append(api.route(
        "/v1/payment_intents/{id}", lambda ctx: _update_payment_intent(api, ctx, ctx.request.path_params["id"]),
        methods=("POST",), operation="payment_intents.update",
    ))

    def unrecognized(ctx: Ctx) -> tuple[int, dict]:
        raise StripeError(
            404,
            f"Unrecognized request URL ({ctx.request.method}: {_route_path(ctx.request)}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # Last, so a known path with an unsupported method also lands here, as on Stripe.
    routes.append(api.route("/{path:path}", unrecognized, methods=("GET", "POST", "DELETE", "PUT", "PATCH")))
    return routes


def _lister(api: _Api, resource: Resource) -> Callable[[Ctx], tuple[int, dict]]:
    return lambda ctx: api.list(resource, ctx)


def _retriever(api: _Api, resource: Resource) -> Callable[[Ctx], tuple[int, dict]]:
    return lambda ctx: api.retrieve(resource, ctx, ctx.request.path_params["id"])


def _fault_renderer(status: int, retry_after: float | None) -> Response:
    """Injected faults in Stripe's shape. Stripe sends no Retry-After and, on rate limiting, no
    `Stripe-Should-Retry: true` (its SDKs do not retry rate-limit 429s by themselves)."""
    request_id = _request_id()
    if status == 429:
        err = rate_limit_error()
    else:
        err = StripeError(status, "An unknown error occurred", type_="api_error")
    return _respond(status, _dumps(err.body(request_id)), request_id, DEFAULT_API_VERSION)
