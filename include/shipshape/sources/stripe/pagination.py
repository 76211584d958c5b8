"""Stripe's list paging: newest first, `limit` ≤ 100, `starting_after=<last id>` while `has_more`.

Every Stripe list (`/v1/charges`, `/v1/events`, …) answers `{"object": "list", "data": [...],
"has_more": bool}` ordered by `created` descending. The next page is asked for with the id of the last
object of this one. Lists filter by `created` only (`created[gte]`, `created[lt]`, …, epoch seconds);
there is no updated-since filter, which is why the streams read changes from the events list.

Robustness beyond the happy path:
* a page that opens with a record the previous page already gave (a retried or shifted page) is
  deduplicated against the previous page, so memory stays one page;
* a record without a usable id (a malformed one, which the stream quarantines) cannot be a cursor: the
  cursor is the last usable id of the page, and records repeated because of that are dropped too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shipshape.ingest.http import ApiError

MAX_PAGE_SIZE = 100  # Stripe's maximum `limit`


def page_size(value: Any) -> int:
    """A `limit` Stripe accepts (1..100); 100 unless a setting asks for less (tests page small)."""
    size = MAX_PAGE_SIZE if value in (None, "") else int(value)
    return max(1, min(MAX_PAGE_SIZE, size))


def epoch_floor(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def epoch_ceil(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


def created_range(start: datetime | None, end: datetime) -> dict[str, int]:
    """`created` filter for [start, end) in Stripe's whole seconds, widened outwards, never narrowed."""
    params = {"created[lt]": epoch_ceil(end)}
    if start is not None:
        params["created[gte]"] = epoch_floor(start)
    return params


def _usable_id(record: Any) -> str | None:
    if isinstance(record, dict):
        value = record.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def list_pages(client, path: str, params: dict[str, Any], *, limit: int = MAX_PAGE_SIZE) -> Iterator[list[dict]]:
    """Yield each page's records of the Stripe list at `path`, newest first, without repeats."""
    cursor: str | None = None
    stalled = 0
    previous_ids: set[str] = set()
    previous_anonymous: list[dict] = []
    while True:
        query = {**params, "limit": limit}
        if cursor is not None:
            query["starting_after"] = cursor
        body = client.get_json(path, query)
        data = body.get("data")
        if not isinstance(data, list):
            raise ApiError(f"stripe: GET {path} answered no list (object={body.get('object')!r})")
        page: list[dict] = []
        ids: set[str] = set()
        anonymous: list[dict] = []
        last_id: str | None = None
        for record in data:
            record_id = _usable_id(record)
            if record_id is not None:
                last_id = record_id
                ids.add(record_id)
                if record_id in previous_ids:
                    continue
            else:
                anonymous.append(record)
                if record in previous_anonymous:
                    continue
            page.append(record)
        if page:
            yield page
        if not body.get("has_more"):
            return
        if last_id is None or last_id == cursor:
            # Only the repeated record came back (possible with tiny pages): ask again, a few times.
            stalled += 1
            if stalled > 3:
                raise ApiError(f"stripe: GET {path} says has_more but its pages give no new cursor to go on from")
            previous_ids, previous_anonymous = previous_ids | ids, previous_anonymous + anonymous
            continue
        stalled = 0
        cursor, previous_ids, previous_anonymous = last_id, ids, anonymous
