"""World records rendered as Stripe objects: a copy of the kind's template with what the world holds,
the card behind a charge (stable per charge), and the fields set through the API laid over it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe.common import EMBEDDED_LIST_LIMIT, _digest, _token
from shipshape_sandbox.apis.stripe.templates import (
    _CHARGE_TEMPLATE,
    _DISPUTE_TEMPLATE,
    _EVENT_TEMPLATE,
    _PI_TEMPLATE,
    _REFUND_TEMPLATE,
)
from shipshape_sandbox.world import StripeCharge, StripeDispute, StripePaymentIntent, StripeRefund, epoch

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.apis.stripe.state import StripeState
    from shipshape_sandbox.world import StripeEvent, StripeShipping

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


def render_payment_intent(state: StripeState, pi: StripePaymentIntent,
                          extras: dict[str, Any] | None = None) -> dict:
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
    extras = state.extras.get(pi.id) if extras is None else extras
    if extras:
        o.update(extras)
    return o


def render_charge(state: StripeState, ch: StripeCharge, as_of: int | None = None,
                  extras: dict[str, Any] | None = None) -> dict:
    o = dict(_CHARGE_TEMPLATE)
    world = state.world
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
    o["refunds"] = _charge_refunds(state, ch.id, as_of)
    o["shipping"] = render_shipping(ch.shipping)
    o["status"] = ch.status
    extras = state.extras.get(ch.id) if extras is None else extras
    if extras:
        o.update(extras)
    return o


def _charge_refunds(state: StripeState, charge_id: str, as_of: int | None) -> dict[str, Any]:
    refunds = state.refunds_of_charge(charge_id)
    if as_of is not None:
        refunds = [r for r in refunds if r.created <= as_of]
    page = refunds[:EMBEDDED_LIST_LIMIT]
    return {
        "object": "list",
        "data": [render_refund(state, r) for r in page],
        "has_more": len(refunds) > len(page),
        "url": f"/v1/charges/{charge_id}/refunds",
    }


def render_refund(state: StripeState, re_: StripeRefund, extras: dict[str, Any] | None = None) -> dict:
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
    extras = state.extras.get(re_.id) if extras is None else extras
    if extras:
        o.update(extras)
    return o


def render_dispute(state: StripeState, dp: StripeDispute, extras: dict[str, Any] | None = None) -> dict:
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
        "past_due": open_ and epoch(state.world.clock) > due_by,
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
    extras = state.extras.get(dp.id) if extras is None else extras
    if extras:
        o.update(extras)
    return o


def render_object(state: StripeState, obj: Any, as_of: int | None = None,
                  extras: dict[str, Any] | None = None) -> Any:
    if isinstance(obj, StripeCharge):
        return render_charge(state, obj, as_of, extras)
    if isinstance(obj, StripePaymentIntent):
        return render_payment_intent(state, obj, extras)
    if isinstance(obj, StripeRefund):
        return render_refund(state, obj, extras)
    if isinstance(obj, StripeDispute):
        return render_dispute(state, obj, extras)
    return obj


def render_event(state: StripeState, ev: StripeEvent) -> dict:
    o = dict(_EVENT_TEMPLATE)
    request_id, idempotency_key, extras = state.event_requests.get(ev.id, (None, None, None))
    data: dict[str, Any] = {"object": render_object(state, ev.snapshot, as_of=ev.created, extras=extras)}
    if ev.previous_attributes is not None:
        data["previous_attributes"] = ev.previous_attributes
    o["id"] = ev.id
    o["created"] = ev.created
    o["data"] = data
    o["request"] = {"id": request_id, "idempotency_key": idempotency_key}
    o["type"] = ev.type
    return o
