"""The Stripe writer of the corrections push: a charge's `shipping` (carrier and tracking numbers) through
`POST /v1/charges/{id}`, with `Idempotency-Key` = the plan's idempotency key.

The parameters come from the plan's payload only, so every retry of a key sends the same request (Stripe
refuses a key reused with other parameters). The charge is read right before writing and the action
skipped, with the reason, when it already carries every number (Stripe keeps keys 24 hours, and the read
covers a retry after that) or when it has moved on since the plan: a charge now fully refunded holds no
money, and the reconciliation asks tracking only of live payments.
Stripe's shipping holds one `tracking_number`; the numbers go there comma-separated, which is how the
reconciliation reads them back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.corrections.writers import Outcome, WriteError, WriterOptions
from shipshape.sources.stripe.client import StripeClient


def _numbers(text: Any) -> set[str]:
    return {n.strip().upper() for n in str(text or "").split(",") if n.strip()}


def _fully_refunded(charge: dict[str, Any]) -> bool:
    if charge.get("refunded") is True:
        return True
    captured, refunded = charge.get("amount_captured"), charge.get("amount_refunded")
    return isinstance(captured, int) and isinstance(refunded, int) and 0 < captured <= refunded


class StripeWriter:
    target = "stripe"

    def __init__(self, client: StripeClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def apply(self, action: Action) -> Outcome:
        if action.action != "charge_update_shipping":
            raise WriteError(f"the Stripe writer has no action {action.action!r}")
        p = action.payload
        charge_id = p.get("charge_id") or action.target_object_id
        numbers = [str(n) for n in p.get("tracking_numbers") or []]
        if not numbers:
            raise WriteError("charge_update_shipping needs tracking_numbers in the payload")
        path = f"/v1/charges/{quote(charge_id, safe='')}"
        charge = self.client.get_json(path)
        if {n.upper() for n in numbers} <= _numbers((charge.get("shipping") or {}).get("tracking_number")):
            return Outcome("skipped", f"charge {charge_id} already carries {', '.join(numbers)}")
        if _fully_refunded(charge):
            return Outcome("skipped", f"charge {charge_id} is fully refunded since the plan (amount_refunded"
                                      f" {charge.get('amount_refunded')} of {charge.get('amount_captured')}):"
                                      " shipping.tracking_number not sent")
        form: dict[str, str] = {
            "shipping[name]": p.get("shipping_name") or "Customer",
            "shipping[tracking_number]": ",".join(numbers),
        }
        if p.get("carrier"):
            form["shipping[carrier]"] = str(p["carrier"])
        if p.get("shipping_phone"):
            form["shipping[phone]"] = str(p["shipping_phone"])
        address = p.get("shipping_address") or {}
        for key in ("line1", "line2", "city", "state", "postal_code", "country"):
            if address.get(key):
                form[f"shipping[address][{key}]"] = str(address[key])
        if not any(k.startswith("shipping[address]") for k in form):
            form["shipping[address][line1]"] = ""  # Stripe requires the address object
        response = self.client.request("POST", path, data=form, headers={"Idempotency-Key": action.idempotency_key})
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        body = response.json()
        detail = f"charge {charge_id} shipping.tracking_number = {','.join(numbers)}" + (
            "; Stripe replayed an earlier attempt with the same key" if replayed else "")
        return Outcome("applied", detail, {"id": body.get("id"), "shipping": body.get("shipping"),
                                           "request_id": response.headers.get("Request-Id")})


def open_writer(conn: Connection, options: WriterOptions) -> StripeWriter:
    return StripeWriter(StripeClient(conn, options.transport, retry=options.retry))
