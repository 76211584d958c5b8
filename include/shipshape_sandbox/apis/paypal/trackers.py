"""The Add Tracking v1 API: list a capture's trackers, show and replace one, add up to 20 at once
(`/v1/shipping/trackers` and `-batch`, with per-item errors).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.responses import Response

from shipshape_sandbox.apis.paypal.common import API
from shipshape_sandbox.apis.paypal.errors import MESSAGES, STATUS_NAMES, _json, debug_id, error, invalid_query
from shipshape_sandbox.apis.paypal.state import trackers_by_capture
from shipshape_sandbox.apis.paypal.writes import (
    CARRIER,
    TRACKING_STATUSES,
    _tracker_fields_problem,
    _upsert_tracker,
)

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request

    from shipshape_sandbox.apis.paypal.api import PayPalAPI
    from shipshape_sandbox.world import PayPalTracker

async def list_trackers(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    txn = request.query_params.get("transaction_id")
    if not txn:
        return invalid_query("transaction_id", "MISSING_REQUIRED_PARAMETER")
    world = api.sandbox.world
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
        for t in trackers_by_capture(world, api.state).get(txn, ())
        if number is None or t.tracking_number == number
    ]
    self_href = f"{api.render.base}/v1/shipping/trackers?{urlencode(request.query_params.multi_items())}"
    return _json(
        {
            "trackers": [api.render.tracker(t) for t in trackers],
            "links": [{"href": self_href, "rel": "self", "method": "GET"}],
        }
    )


def _tracker_or_404(api: PayPalAPI, tracker_id: str) -> PayPalTracker | Response:
    tracker = api.sandbox.world.paypal_trackers.get(tracker_id)
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


async def get_tracker(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    found = _tracker_or_404(api, request.path_params["tracker_id"])
    if isinstance(found, Response):
        return found
    return _json(api.render.tracker(found))


async def put_tracker(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    raw = await request.body()
    found = _tracker_or_404(api, request.path_params["tracker_id"])
    if isinstance(found, Response):
        api.sandbox.stats.mutation(API, "trackers.update", applied=False)
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
        found.status, found.carrier, found.update_time = status, carrier, api.sandbox.world.clock
        if "notify_buyer" in body:
            found.notify_payer = bool(body["notify_buyer"])
        api.sandbox.world.changed()
    api.sandbox.stats.mutation(API, "trackers.update", applied=changed)
    return Response(status_code=204, headers={"Paypal-Debug-Id": debug_id()})


async def add_trackers(api: PayPalAPI, request: Request) -> Response:
    """POST /v1/shipping/trackers and /v1/shipping/trackers-batch: up to 20 trackers, per-item errors."""
    denied = api.authorize(request)
    if denied is not None:
        return denied
    batch = request.url.path.endswith("-batch")
    operation = "trackers-batch.create" if batch else "trackers.create"
    raw = await request.body()
    slot, replayed = api.replay(request, operation)
    if replayed is not None:
        api.sandbox.stats.mutation(API, operation, applied=False)
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
    world = api.sandbox.world
    identifiers, errors, applied_any = [], [], False
    for i, item in enumerate(items):
        prefix = f"/trackers/{i}/"
        if not isinstance(item, dict):
            errors.append(_item_error(400, prefix, "INVALID_PARAMETER_SYNTAX", None))
            continue
        if not item.get("status"):
            errors.append(_item_error(400, prefix + "status", "MISSING_REQUIRED_PARAMETER", None))
            continue
        problem = _tracker_fields_problem(item, prefix, require_capture=False)
        if problem is not None:
            detail = json.loads(problem.body)["details"][0]
            errors.append(
                _item_error(400, detail.get("field", prefix), detail["issue"], detail.get("value"))
            )
            continue
        capture = world.paypal_captures.get(item["transaction_id"])
        if capture is None:
            errors.append(
                _item_error(
                    404, prefix + "transaction_id", "INVALID_TRANSACTION_ID", item["transaction_id"]
                )
            )
            continue
        applied_any |= _upsert_tracker(
            api, capture, item, order_id=capture.order_id, notify_key="notify_buyer"
        )
        identifiers.append(
            api.render.tracker_identifier(
                world.paypal_trackers.get(f"{capture.id}-{item['tracking_number']}")
            )
        )
    api.sandbox.stats.mutation(API, operation, applied=applied_any)
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
            "href": f"{api.render.base}{request.url.path.removeprefix('/' + API)}",
            "rel": "self",
            "method": "POST",
        }
    ]
    if identifiers:
        api.remember(slot, request.headers.get("paypal-request-id"), 200, out, applied_any)
    return _json(out, 200)


def _item_error(status: int, field_: str, issue: str, value: str | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"field": field_}
    if value is not None:
        detail["value"] = str(value)
    detail.update({"location": "body", "issue": issue})
    name = STATUS_NAMES[status]
    return {"name": name, "debug_id": debug_id(), "message": MESSAGES[name], "details": [detail]}
