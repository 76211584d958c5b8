"""Orders v2 (show an order, `/track` a capture's shipment) and Payments v2's capture lookup."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.responses import Response

from shipshape_sandbox.apis.paypal.common import API
from shipshape_sandbox.apis.paypal.errors import _json, error, orders_error
from shipshape_sandbox.apis.paypal.writes import _tracker_fields_problem, _upsert_tracker

if TYPE_CHECKING:
    from starlette.requests import Request

    from shipshape_sandbox.apis.paypal.api import PayPalAPI
    from shipshape_sandbox.world import PayPalOrder

# Orders v2 refuses trackers on captures that hold no money ("Tracker information can only be added to
# captures in `COMPLETED` state."); we also let partially refunded captures through, since goods still ship.
TRACKABLE_CAPTURES = frozenset({"COMPLETED", "PARTIALLY_REFUNDED"})


def _order_or_404(api: PayPalAPI, order_id: str) -> PayPalOrder | Response:
    order = api.sandbox.world.paypal_orders.get(order_id)
    if order is None:
        return orders_error(
            404,
            "INVALID_RESOURCE_ID",
            field_="order_id",
            value=order_id,
            location="path",
        )
    return order


async def get_order(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    found = _order_or_404(api, request.path_params["order_id"])
    if isinstance(found, Response):
        return found
    return _json(api.render.order(found))


async def get_capture(api: PayPalAPI, request: Request) -> Response:
    """Payments v2 `GET /v2/payments/captures/{id}`: its `up` link names the order (what a tracker
    writer needs for Orders v2 `/track` when it knows only the capture)."""
    denied = api.authorize(request)
    if denied is not None:
        return denied
    capture_id = request.path_params["capture_id"]
    capture = api.sandbox.world.paypal_captures.get(capture_id)
    if capture is None:
        return error(
            404,
            details=[{"field": "capture_id", "value": capture_id, "location": "path", "issue": "INVALID_RESOURCE_ID"}],
        )
    return _json(api.render.capture(capture))


async def track(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    raw = await request.body()
    order_id = request.path_params["order_id"]
    slot, replayed = api.replay(request, f"track:{order_id}")
    if replayed is not None:
        api.sandbox.stats.mutation(API, "orders.track", applied=False)
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
    problem = _tracker_fields_problem(body, "/", require_capture=True)
    if problem is not None:
        return problem
    found = _order_or_404(api, order_id)
    if isinstance(found, Response):
        api.sandbox.stats.mutation(API, "orders.track", applied=False)
        return found
    order = found
    world = api.sandbox.world
    capture_id = body["capture_id"]
    capture = world.paypal_captures.get(capture_id)
    if capture is None or capture_id not in order.capture_ids:
        api.sandbox.stats.mutation(API, "orders.track", applied=False)
        return orders_error(422, "CAPTURE_ID_NOT_FOUND", field_="/capture_id", value=capture_id)
    if capture.status not in TRACKABLE_CAPTURES:
        api.sandbox.stats.mutation(API, "orders.track", applied=False)
        return orders_error(422, "CAPTURE_STATUS_NOT_VALID")
    applied = _upsert_tracker(api, capture, body, order_id=order.id, notify_key="notify_payer")
    api.sandbox.stats.mutation(API, "orders.track", applied=applied)
    rendered = api.render.order(order)
    api.remember(slot, request.headers.get("paypal-request-id"), 201, rendered, applied)
    return _json(rendered, 201)
