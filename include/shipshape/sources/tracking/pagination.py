"""The tracker list's paging: newest first, `before_id` steps back to older trackers.

EasyPost lists trackers newest first, `page_size` at most 100, with `has_more` when older ones remain;
`before_id=<the oldest id on this page>` asks the next (older) page. With the update-time filter
(`updated_since` inclusive, `updated_before` exclusive) the list is ordered by `updated_at` and the
cursor moves along that order. The cursor is a record, not an offset: a tracker updated during the run
leaves the window (its new time is past the fixed `updated_before`) without shifting anything, and is
read by the next run. A page may repeat the previous page's last tracker; the raw table's key absorbs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shipshape.ingest.http import ApiError

PAGE_SIZE = 100  # EasyPost's maximum


def walk(fetch: Callable[[dict[str, Any]], dict[str, Any]], params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Yield every page of trackers matching `params`, following `before_id` until `has_more` is false."""
    params = {"page_size": PAGE_SIZE, **params}
    while True:
        body = fetch(params)
        trackers = body.get("trackers")
        if not isinstance(trackers, list):
            raise ApiError(f"tracking: the tracker list answered no trackers: {str(body)[:200]}")
        yield trackers
        if not body.get("has_more") or not trackers:
            return
        # The oldest tracker on the page that has an id (a malformed one may not): the next page starts
        # below it, so at worst the malformed ones after it are read again.
        cursor = next((t["id"] for t in reversed(trackers) if isinstance(t, dict) and isinstance(t.get("id"), str)
                       and t["id"]), None)
        if cursor is None or cursor == params.get("before_id"):
            raise ApiError("tracking: the tracker list said has_more but gave no tracker to page from")
        params = {**params, "before_id": cursor}
