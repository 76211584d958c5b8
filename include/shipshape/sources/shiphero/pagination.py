"""ShipHero's paging: Relay connections over offset cursors, walked so that nothing is skipped.

ShipHero's cursors are graphene's `arrayconnection:<offset>`: page n+1 starts at a fixed offset of the
filtered, sorted list as it is *when that page is asked*. A record whose update time moves out of the
window meanwhile (it was updated during the sync) shifts every later record down by one, so plain offset
paging would silently skip a record that did not change at all, possibly an old one.

So a listing is sorted ascending by the field the window filters on, its upper bound is fixed for the
whole run, and after each page the walk re-anchors: the next query starts a fresh listing whose lower
bound is the last value read (inclusive). A fresh listing from offset 0 cannot skip anything; the records
that share that last value are read twice, which the raw table's (source_id, payload_hash) key absorbs.
Only when a whole page shares one value (a burst of updates in one second) does the walk continue by
cursor inside it.

Nested connections (an order's line items, a shipment's line items) are asked with a small `first`, to
keep each page's complexity low; the few nodes that have more are completed with follow-up queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shipshape.ingest.http import ApiError
from shipshape.ingest.records import RecordError, parse_timestamp

# fetch(lower_bound or None, after cursor or None) -> the connection: {"pageInfo": {...}, "edges": [...]}
FetchPage = Callable[[str | None, str | None], dict[str, Any]]
# fetch_more(node id, after cursor) -> the nested connection's next page
FetchMore = Callable[[str, str], dict[str, Any]]


def iso_bound(value: datetime, *, round_up: bool = False) -> str:
    """An ISODateTime argument in ShipHero's documented form, UTC, whole seconds.

    Its filters take whole seconds and include both bounds; a lower bound is rounded down and an upper
    bound up, so the query covers at least [start, end) and never less.
    """
    value = value.astimezone(UTC)
    if round_up and value.microsecond:
        value = value + timedelta(seconds=1)
    return value.replace(microsecond=0, tzinfo=None).isoformat()


def _sort_value(node: dict[str, Any], field: str) -> datetime | None:
    try:
        return parse_timestamp(node.get(field), field)
    except RecordError:
        return None  # a malformed record (quarantined later) can't anchor the walk


def walk(fetch: FetchPage, *, lower: datetime | None, sort_field: str) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's nodes of a listing sorted ascending by `sort_field`, re-anchoring as described."""
    anchor = lower
    bound = iso_bound(lower) if lower is not None else None
    after: str | None = None
    while True:
        connection = fetch(bound, after)
        if not isinstance(connection, dict) or not isinstance(connection.get("edges"), list):
            raise ApiError(f"shiphero: a listing answered no connection: {str(connection)[:200]}")
        nodes = [edge["node"] for edge in connection["edges"] if isinstance(edge, dict) and edge.get("node")]
        yield nodes
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage") or not nodes:
            return
        frontier = max((v for v in (_sort_value(n, sort_field) for n in nodes) if v is not None), default=None)
        if frontier is not None and (anchor is None or iso_bound(frontier) > iso_bound(anchor)):
            anchor, bound, after = frontier, iso_bound(frontier), None
        else:
            after = info.get("endCursor")
            if not after:
                raise ApiError("shiphero: a page said it had a next page but gave no endCursor")


def complete(node: dict[str, Any], key: str, fetch_more: FetchMore) -> int:
    """Fetch the rest of `node[key]` (a nested connection asked with a small `first`) into it.

    Returns how many follow-up queries it took. The merged connection reads as one complete page.
    """
    connection = node.get(key)
    if not isinstance(connection, dict):
        return 0
    info = connection.get("pageInfo") or {}
    node_id = node.get("id")
    queries = 0
    while info.get("hasNextPage") and isinstance(node_id, str) and info.get("endCursor"):
        more = fetch_more(node_id, info["endCursor"])
        queries += 1
        connection["edges"].extend(more.get("edges") or [])
        info = more.get("pageInfo") or {}
    connection["pageInfo"] = {"hasNextPage": bool(info.get("hasNextPage")), "endCursor": info.get("endCursor")}
    return queries
