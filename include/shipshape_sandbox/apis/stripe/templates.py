"""The key sets of Stripe's own example objects (fixtures3.json), one template per object kind, holding
the values a real test-mode object holds where the sandbox does not model a field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe.common import DEFAULT_API_VERSION

if TYPE_CHECKING:
    from typing import Any

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
