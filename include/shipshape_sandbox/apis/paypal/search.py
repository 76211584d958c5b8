"""Transaction Search (`GET /v1/reporting/transactions`): the query's checks, the window clamped to what
PayPal has published, the matching captures and refunds (cached per world revision), page links.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime
from heapq import merge
from operator import attrgetter
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from shipshape_sandbox.apis.paypal import settings
from shipshape_sandbox.apis.paypal.common import (
    CAPTURE_STATUS_CODES,
    CAPTURE_T_CODE,
    REFUND_STATUS_CODES,
    REFUND_T_CODE,
)
from shipshape_sandbox.apis.paypal.errors import _json, error, invalid_query
from shipshape_sandbox.world import PayPalRefund, iso

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from shipshape_sandbox.apis.paypal.api import PayPalAPI

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


def parse_date_time(value: str) -> datetime | None:
    if not DATE_TIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return parsed.astimezone(UTC)


async def transactions(api: PayPalAPI, request: Request) -> Response:
    denied = api.authorize(request)
    if denied is not None:
        return denied
    q = request.query_params
    world = api.sandbox.world
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
    if end - start > settings.MAX_RANGE:
        return invalid_query("end_date", "Date range is greater than 31 days", q["end_date"])
    refreshed = (world.clock - settings.PUBLISH_LAG).replace(microsecond=0)
    if start > refreshed:
        return error(400, message="Data for the given start date is not available.", details=[])
    page = q.get("page", "1")
    page_size = q.get("page_size", str(settings.DEFAULT_PAGE_SIZE))
    if not page.isdigit() or int(page) < 1:
        return invalid_query("page", "INVALID_PARAMETER_VALUE", page)
    if not page_size.isdigit() or not 1 <= int(page_size) <= settings.MAX_PAGE_SIZE:
        return invalid_query(
            "page_size",
            "INVALID_PARAMETER_VALUE",
            page_size,
            f"page_size must be between 1 and {settings.MAX_PAGE_SIZE}.",
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
    rows = search(api, start, window_end, filters)
    if len(rows) > settings.MAX_RESULT_ITEMS:
        return error(
            400,
            name="RESULTSET_TOO_LARGE",
            total_items=len(rows),
            maximum_items=settings.MAX_RESULT_ITEMS,
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
    if page_n > 1 and offset < total and api.sandbox.faults.repeat_boundary():
        offset -= 1  # a flaky service repeats the last record of the previous page
    chunk = rows[offset : offset + size]
    details = []
    hostile = api.sandbox.faults.mode == "hostile"
    for row in chunk:
        entry = api.render.transaction(row, groups)
        if hostile:
            api.sandbox.faults.corrupt(
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
            "account_number": api.render.merchant_id,
            "start_date": iso(start),
            "end_date": iso(window_end),
            "last_refreshed_datetime": iso(refreshed),
            "page": page_n,
            "total_items": total,
            "total_pages": total_pages,
            "links": _page_links(api, request, page_n, total_pages),
        }
    )


def search(api: PayPalAPI, start: datetime, end: datetime, filters: tuple) -> list:
    """Every matching capture and refund in [start, end], ordered by initiation date.

    Bisects the cached create_time views, so a page costs the window, not the world; the matching rows
    are cached per world revision, so paging through them costs only the page.
    """
    world = api.sandbox.world
    key = (world.revision, start, end, filters)
    cached = api.state.searches.get(key)
    if cached is not None:
        api.state.searches.move_to_end(key)
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
    api.state.searches[key] = rows
    while len(api.state.searches) > 32:
        api.state.searches.popitem(last=False)
    return rows


def _page_links(api: PayPalAPI, request: Request, page: int, total_pages: int) -> list[dict[str, str]]:
    base = f"{api.render.base}/v1/reporting/transactions"
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
