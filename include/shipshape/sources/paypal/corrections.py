"""The PayPal writer of the corrections push: a tracker per shipment number through Orders v2
`POST /v2/checkout/orders/{id}/track`, with `PayPal-Request-Id` = the plan's idempotency key.

The plan knows the capture (Transaction Search reports captures, not orders); the order it belongs to is
the capture's `up` link (Payments v2 `GET /v2/payments/captures/{id}`), of which only the id is used, so
no absolute URL from a response is ever requested. Before that, the Add Tracking API is asked whether
the capture already carries the number (skipped if so): PayPal keeps request ids only 6 hours, so the
read also covers a retry after the key expired. The capture read right before the write also tells
whether it has moved on since the plan: a capture no longer COMPLETED or PARTIALLY_REFUNDED (refunded in
full, reversed) holds no money, PayPal takes no tracker on it and the reconciliation asks none, so the
action is skipped with the capture's status as the reason. A repeated request id is answered 200 with
the first result and applies nothing, so the client's retries are safe here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.corrections.writers import Outcome, WriteError, WriterOptions
from shipshape.sources.paypal.client import PayPalClient

# the capture statuses that still hold money: Orders v2 takes trackers on these only
TRACKABLE = ("COMPLETED", "PARTIALLY_REFUNDED")


def _norm(number: Any) -> str:
    return str(number or "").strip().upper()


class PayPalWriter:
    target = "paypal"

    def __init__(self, client: PayPalClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def apply(self, action: Action) -> Outcome:
        if action.action != "tracker_add":
            raise WriteError(f"the PayPal writer has no action {action.action!r}")
        p = action.payload
        capture_id, number = p.get("capture_id") or p.get("transaction_id"), p.get("tracking_number")
        if not capture_id or not number:
            raise WriteError("tracker_add needs capture_id and tracking_number in the payload")
        existing = self.client.get_json("/v1/shipping/trackers", {"transaction_id": capture_id,
                                                                   "tracking_number": number})
        for tracker in existing.get("trackers") or []:
            if _norm(tracker.get("tracking_number")) == _norm(number) and tracker.get("status") != "CANCELLED":
                return Outcome("skipped", f"capture {capture_id} already carries tracker {number}")
        capture = self.client.get_json(f"/v2/payments/captures/{quote(capture_id, safe='')}", {})
        status = str(capture.get("status") or "")
        if status and status not in TRACKABLE:
            return Outcome("skipped", f"capture {capture_id} is {status} since the plan: tracker {number} not sent")
        order_id = self._order_id(capture_id, capture)
        body = {
            "capture_id": capture_id,
            "tracking_number": number,
            "carrier": p.get("carrier") or "OTHER",
            "status": p.get("status") or "SHIPPED",
            "notify_payer": bool(p.get("notify_payer", False)),
        }
        if body["carrier"] == "OTHER":
            body["carrier_name_other"] = p.get("carrier_name_other") or "Other"
        response = self.client.request("POST", f"/v2/checkout/orders/{quote(order_id, safe='')}/track", json=body,
                                       headers={"PayPal-Request-Id": action.idempotency_key,
                                                "Prefer": "return=minimal"})
        replayed = response.status_code == 200
        detail = (f"tracker {number} on capture {capture_id} (order {order_id})"
                  + ("; PayPal answered an earlier attempt with the same request id" if replayed else ""))
        return Outcome("applied", detail, {"status": response.status_code, "order_id": order_id})

    def _order_id(self, capture_id: str, capture: dict[str, Any]) -> str:
        for link in capture.get("links") or []:
            if link.get("rel") == "up":
                path = urlsplit(str(link.get("href") or "")).path.rstrip("/")
                if "/checkout/orders/" in path:
                    return path.rsplit("/", 1)[-1]
        raise WriteError(f"PayPal capture {capture_id} names no order (no 'up' link)", response=capture)


def open_writer(conn: Connection, options: WriterOptions) -> PayPalWriter:
    return PayPalWriter(PayPalClient(conn, options.transport, retry=options.retry))
