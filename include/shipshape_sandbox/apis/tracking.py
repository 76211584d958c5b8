"""An EasyPost-style carrier tracking API over the world's trackers.

- ``GET /v2/trackers`` lists trackers newest first as EasyPost does (``{"trackers": [...], "has_more"}``)
  with EasyPost's ``page_size`` (default 20, at most 100), ``before_id`` / ``after_id`` cursors,
  ``start_datetime`` / ``end_datetime`` (creation time), ``tracking_code`` and ``carrier`` filters.
- EasyPost has no filter on update time, which an incremental load needs. The sandbox adds one, kept in
  EasyPost's style: ``updated_since`` (inclusive) and ``updated_before`` (exclusive), ISO 8601. With either
  of them the list is ordered by ``updated_at`` (newest first, ties by id) and the cursors move along that
  order; fix ``updated_before`` for the length of a sync so trackers updated meanwhile wait for the next.
- ``GET /v2/trackers/{id}`` retrieves one Tracker.

Authentication is EasyPost's: the API key as the HTTP Basic username (a Bearer key is accepted too).
Errors use EasyPost's ``{"error": {"code", "message", "errors"}}`` body. EasyPost publishes no fixed rate
limit; the sandbox allows bursts of 100 requests per key, refilled at 20 per second, and answers 429 with
Retry-After beyond that (only when ``sandbox.rate_limited``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox.apis.state import PerSandbox, cached_for_revision
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import Tracker, TrackingDetail, iso

API = "tracking"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
BURST = 100
REFILL_PER_SECOND = 20
PUBLIC_TRACKING_HOST = "https://track.easypost.com/"

# EasyPost status_detail for a tracking detail of each status, where the world keeps none.
STATUS_DETAILS = {
    "pre_transit": "label_created",
    "in_transit": "arrived_at_facility",
    "out_for_delivery": "out_for_delivery",
    "delivered": "arrived_at_destination",
    "available_for_pickup": "arrived_at_pickup_location",
    "return_to_sender": "return",
    "failure": "delivery_exception",
    "cancelled": "cancelled",
    "error": "unknown",
    "unknown": "unknown",
}
SERVICES = {"USPS": "Priority Mail", "UPS": "UPS 2nd Day Air", "FedEx": "FedEx Priority Overnight"}


@dataclass
class TrackingState:
    """Rate-limit buckets and a request counter; ``clock`` drives the buckets (tests swap it)."""

    sandbox: Sandbox
    clock: Callable[[], float] = time.time
    _seq: int = 0
    _cache: dict[tuple, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.buckets = Buckets(BURST, REFILL_PER_SECOND, clock=lambda: self.clock())

    def request_uuid(self) -> str:
        self._seq += 1
        return hashlib.blake2b(
            f"{self.sandbox.world.seed}:ep:{self._seq}".encode(), digest_size=16
        ).hexdigest()

    def cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        return cached_for_revision(self._cache, self.sandbox.world.revision, key, compute)


# The tracking emulation's state for a sandbox (tests use it to drive the rate-limit clock).
state_for: PerSandbox[TrackingState] = PerSandbox(TrackingState)


# ------------------------------------------------------------------------------------------ render
def _location(detail: TrackingDetail | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    return {
        "object": "TrackingLocation",
        "city": detail.city,
        "state": detail.state,
        "country": detail.country,
        "zip": detail.zip,
    }


def _place(detail: TrackingDetail | None) -> str | None:
    if detail is None or not (detail.city or detail.state or detail.zip):
        return None
    head = " ".join(part for part in (detail.city, detail.state) if part)
    return f"{head}, {detail.zip}" if detail.zip else head


def render_tracker(tracker: Tracker) -> dict[str, Any]:
    """A world tracker as EasyPost's Tracker object."""
    located = [d for d in tracker.details if d.city or d.state or d.zip]
    origin = located[0] if located else None
    destination = located[-1] if len(located) > 1 else None
    public = base64.b64encode(f"v1:{tracker.id}".encode()).decode()
    return {
        "id": tracker.id,
        "object": "Tracker",
        "mode": "test",
        "tracking_code": tracker.tracking_code,
        "status": tracker.status,
        "status_detail": tracker.status_detail or STATUS_DETAILS.get(tracker.status, "unknown"),
        "created_at": iso(tracker.created_at),
        "updated_at": iso(tracker.updated_at),
        "signed_by": tracker.signed_by,
        "weight": tracker.weight,
        "est_delivery_date": iso(tracker.est_delivery_date),
        "shipment_id": tracker.shipment_id,
        "carrier": tracker.carrier,
        "tracking_details": [
            {
                "object": "TrackingDetail",
                "message": d.message,
                "description": None,
                "status": d.status,
                "status_detail": STATUS_DETAILS.get(d.status, "unknown"),
                "datetime": iso(d.datetime),
                "source": tracker.carrier,
                "carrier_code": None,
                "tracking_location": _location(d)
                or {"object": "TrackingLocation", "city": None, "state": None, "country": None, "zip": None},
            }
            for d in tracker.details
        ],
        "fees": [
            {"object": "Fee", "type": "TrackerFee", "amount": "0.02000", "charged": False, "refunded": False}
        ],
        "carrier_detail": {
            "object": "CarrierDetail",
            "service": SERVICES.get(tracker.carrier),
            "container_type": None,
            "est_delivery_date_local": None,
            "est_delivery_time_local": None,
            "origin_location": _place(origin),
            "origin_tracking_location": _location(origin),
            "destination_location": _place(destination),
            "destination_tracking_location": _location(destination),
            "guaranteed_delivery_date": None,
            "alternate_identifier": None,
            "initial_delivery_attempt": None,
        },
        "public_url": PUBLIC_TRACKING_HOST + public,
    }


# ------------------------------------------------------------------------------------------ errors
def _error(status: int, code: str, message: str, errors: list | None = None, **headers: str) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "errors": errors or []}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _invalid(name: str, message: str) -> JSONResponse:
    return _error(
        422, "PARAMETER.INVALID", f"Invalid parameter: {name}", [{"field": name, "message": message}]
    )


def _rate_limited(wait: float) -> JSONResponse:
    seconds = max(1, math.ceil(wait))
    return _error(
        429, "RATE_LIMITED", "You have exceeded the rate limit. Please slow down your requests.",
        **{"Retry-After": str(seconds)},
    )  # fmt: skip


def render_error(status: int, retry_after: float | None) -> Response:
    """Injected faults in EasyPost's error body."""
    if status == 429:
        return _rate_limited(retry_after or 1.0)
    return _error(
        status, "INTERNAL_SERVER_ERROR", "We're sorry, something went wrong. Please try again later."
    )


class _BadParam(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _parse_time(params: Any, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise _BadParam(name, "must be an ISO 8601 date or datetime") from None
        value = datetime(day.year, day.month, day.day)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------ listing
@dataclass(frozen=True)
class _Query:
    order_attr: str  # created_at, or updated_at when an updated_* filter is given
    start: datetime | None
    end: datetime | None
    updated_since: datetime | None
    updated_before: datetime | None
    tracking_code: str | None
    carrier: str | None


def _sort_key(attr: str) -> Callable[[Tracker], tuple]:
    return lambda t: (getattr(t, attr), t.id)


def _candidates(state: TrackingState, q: _Query) -> tuple[Sequence[Tracker], int, int]:
    """The matching trackers in ascending (order_attr, id) order, as a sequence and a [lo, hi) window."""
    table = state.sandbox.world.trackers
    by_order = q.order_attr == "updated_at"
    own_lo, own_hi = (q.updated_since, q.updated_before) if by_order else (q.start, q.end)
    other_lo, other_hi = (q.start, q.end) if by_order else (q.updated_since, q.updated_before)
    other_attr = "created_at" if by_order else "updated_at"
    carrier = q.carrier.lower() if q.carrier else None

    def other_ok(t: Tracker) -> bool:
        value = getattr(t, other_attr)
        return (other_lo is None or value >= other_lo) and (other_hi is None or value < other_hi)

    def own_ok(t: Tracker) -> bool:
        value = getattr(t, q.order_attr)
        return (own_lo is None or value >= own_lo) and (own_hi is None or value < own_hi)

    if q.tracking_code is not None:

        def by_code() -> list[Tracker]:
            view = table.sorted_by("tracking_code")
            key = lambda t: t.tracking_code  # noqa: E731
            rows = view[
                bisect_left(view, q.tracking_code, key=key) : bisect_right(view, q.tracking_code, key=key)
            ]
            rows = [
                t
                for t in rows
                if own_ok(t) and other_ok(t) and (carrier is None or t.carrier.lower() == carrier)
            ]
            return sorted(rows, key=_sort_key(q.order_attr))

        rows = state.cached(("code", q), by_code)
        return rows, 0, len(rows)

    view = table.sorted_by(q.order_attr)
    attr_key = lambda t: getattr(t, q.order_attr)  # noqa: E731
    lo = 0 if own_lo is None else bisect_left(view, own_lo, key=attr_key)
    hi = len(view) if own_hi is None else bisect_left(view, own_hi, key=attr_key)
    hi = max(lo, hi)
    if other_lo is None and other_hi is None and carrier is None:
        return view, lo, hi

    def filtered() -> list[Tracker]:
        return [t for t in view[lo:hi] if other_ok(t) and (carrier is None or t.carrier.lower() == carrier)]

    rows = state.cached(("filtered", q), filtered)
    return rows, 0, len(rows)


def list_trackers(state: TrackingState, params: Any) -> dict[str, Any]:
    """One page of EasyPost's tracker list: newest first, before_id pages back, after_id pages forward."""
    world = state.sandbox.world
    size_raw = params.get("page_size")
    if size_raw is None or size_raw == "":
        size = DEFAULT_PAGE_SIZE
    else:
        try:
            size = int(size_raw)
        except ValueError:
            raise _BadParam("page_size", "must be an integer") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise _BadParam("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    before_id, after_id = params.get("before_id") or None, params.get("after_id") or None
    if before_id and after_id:
        raise _BadParam("after_id", "may not be used with before_id")
    updated_since, updated_before = (
        _parse_time(params, "updated_since"),
        _parse_time(params, "updated_before"),
    )
    q = _Query(
        order_attr="updated_at" if updated_since or updated_before else "created_at",
        start=_parse_time(params, "start_datetime"),
        end=_parse_time(params, "end_datetime"),
        updated_since=updated_since,
        updated_before=updated_before,
        tracking_code=params.get("tracking_code") or None,
        carrier=params.get("carrier") or None,
    )
    rows, lo, hi = _candidates(state, q)
    key = _sort_key(q.order_attr)
    faults = state.sandbox.faults
    cursor_id = before_id or after_id
    if cursor_id:
        cursor = world.trackers.get(cursor_id)
        if cursor is None:
            raise _BadParam("before_id" if before_id else "after_id", f"no tracker with id {cursor_id}")
        k = key(cursor)
        if before_id:
            end = bisect_left(rows, k, lo, hi, key=key)
            if end < hi and rows[end] is cursor and faults.repeat_boundary():
                end += 1  # the fault policy repeats the last record of the previous page
            start = max(lo, end - size)
            page, has_more = list(rows[start:end]), start > lo
        else:
            start = bisect_right(rows, k, lo, hi, key=key)
            if start > lo and rows[start - 1] is cursor and faults.repeat_boundary():
                start -= 1
            end = min(hi, start + size)
            page, has_more = list(rows[start:end]), end < hi
    else:
        start = max(lo, hi - size)
        page, has_more = list(rows[start:hi]), start > lo
    page.reverse()
    rendered = [render_tracker(t) for t in page]
    if faults.mode == "hostile":
        rendered = [
            faults.corrupt("tracking.tracker", r, id_path=("id",), timestamp_path=("updated_at",))
            for r in rendered
        ]
    return {"trackers": rendered, "has_more": has_more}


# ------------------------------------------------------------------------------------------- HTTP
def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
    if scheme.lower() == "bearer":
        return value.strip() or None
    return None


def build(sandbox: Sandbox) -> list[BaseRoute]:
    state = state_for(sandbox)
    sandbox.register_error_renderer(API, render_error)
    sandbox.stats.limit(f"{API}:requests", BURST, REFILL_PER_SECOND, "API key")

    def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            key = _api_key(request)
            if key != sandbox.credentials.tracking_api_key:
                response: Response = _error(
                    401, "APIKEY.REQUIRED", "Unauthorized. Please check credentials and try again."
                )
            else:
                taken, wait = state.buckets[key].try_take(1) if sandbox.rate_limited else (True, 0.0)
                if taken:
                    sandbox.stats.charge(f"{API}:requests", 1)
                response = handler(request) if taken else _rate_limited(wait)
            response.headers["x-ep-request-uuid"] = state.request_uuid()
            return response

        return endpoint

    def index(request: Request) -> Response:
        try:
            return JSONResponse(list_trackers(state, request.query_params))
        except _BadParam as bad:
            return _invalid(bad.name, bad.message)

    def retrieve(request: Request) -> Response:
        tracker = sandbox.world.trackers.get(request.path_params["id"])
        if tracker is None:
            return _error(404, "NOT_FOUND", "The requested resource could not be found.")
        body = render_tracker(tracker)
        if sandbox.faults.mode == "hostile":
            body = sandbox.faults.corrupt(
                "tracking.tracker", body, id_path=("id",), timestamp_path=("updated_at",)
            )
        return JSONResponse(body)

    return [
        Route("/v2/trackers", guarded(index), methods=["GET"]),
        Route("/v2/trackers/{id}", guarded(retrieve), methods=["GET"]),
    ]
