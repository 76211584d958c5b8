"""Adding a tracker, which Orders v2 `/track` and Add Tracking v1 share: the checks of a tracker body
(Orders v2's 400 issues) and the write, which adds the tracker or refreshes the one with its number.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.paypal.errors import orders_error
from shipshape_sandbox.apis.paypal.state import add_tracker
from shipshape_sandbox.world import PayPalTracker

if TYPE_CHECKING:
    from starlette.responses import Response

    from shipshape_sandbox.apis.paypal.api import PayPalAPI
    from shipshape_sandbox.world import PayPalCapture

# shipment_tracking_status in both specs.
TRACKING_STATUSES = frozenset(
    "CANCELLED DELIVERED LOCAL_PICKUP ON_HOLD SHIPPED SHIPMENT_CREATED DROPPED_OFF IN_TRANSIT RETURNED "
    "LABEL_PRINTED ERROR UNCONFIRMED PICKUP_FAILED DELIVERY_DELAYED DELIVERY_SCHEDULED DELIVERY_FAILED "
    "INRETURN IN_PROCESS NEW VOID PROCESSED NOT_SHIPPED COMPLETED".split()
)
CARRIER = re.compile(r"^[0-9A-Z_]{1,64}$")  # the spec's pattern; its 1 276-value enum is not repeated here


def _tracker_fields_problem(body: dict, prefix: str, require_capture: bool) -> Response | None:
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
    api: PayPalAPI, capture: PayPalCapture, body: dict, order_id: str | None, notify_key: str
) -> bool:
    """Add the tracker, or refresh an existing one for the same number; True when the world changed."""
    world = api.sandbox.world
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
        api.state.tracker_items[tracker.id] = body["items"]
    add_tracker(world, api.state, tracker)
    return True
