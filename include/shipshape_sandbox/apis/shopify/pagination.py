"""Shopify-style connections: opaque cursors, `first`/`last`/`before`/`after` over sorted views.
"""

from __future__ import annotations

import base64
import bisect
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from graphql import GraphQLError

from shipshape_sandbox.apis.shopify.common import BULK_BATCH, MAX_PAGE_SIZE

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from shipshape_sandbox.apis.shopify.state import Ctx


# ------------------------------------------------------------------------------------- pagination
def encode_cursor(record_id: int, value: Any) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = json.dumps({"last_id": record_id, "last_value": value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, kind: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        record_id = int(data["last_id"])
        value = data["last_value"]
        if kind == "time":
            value = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        elif kind == "int":
            value = int(value)
        return value, record_id
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


@dataclass
class View:
    """Records in ascending sort order with their (sort value, id) keys, for bisecting."""

    rows: list
    keys: list[tuple]
    kind: str  # how the sort value travels in cursors: time | int


class Connection:
    """A page of a connection; `nodes`/`edges`/`pageInfo` render lazily."""

    def __init__(self, items: list, keys: list[tuple], has_next: bool, has_prev: bool,
                 wrap: Callable[[Any], Any]) -> None:
        self.items, self.keys, self.has_next, self.has_prev, self.wrap = items, keys, has_next, has_prev, wrap

    def _cursors(self) -> list[str]:
        return [encode_cursor(key[1], key[0]) for key in self.keys]

    def nodes(self, info: Any) -> list:
        return [self.wrap(item) for item in self.items]

    def edges(self, info: Any) -> list:
        return [{"cursor": c, "node": self.wrap(item)} for item, c in zip(self.items, self._cursors(), strict=True)]

    def pageInfo(self, info: Any) -> dict:  # noqa: N802 - GraphQL field name
        cursors = self._cursors() if self.keys else []
        return {
            "hasNextPage": self.has_next, "hasPreviousPage": self.has_prev,
            "startCursor": cursors[0] if cursors else None, "endCursor": cursors[-1] if cursors else None,
        }


def paginate(ctx: Ctx, info: Any, view: View, args: dict, wrap: Callable[[Any], Any], *,
             top_level: bool = False) -> Connection:
    """Slice a view Shopify's way: first/last/after/before/reverse, hasNext/PreviousPage over the whole list."""
    page = _slice(ctx, view, args, wrap, top_level)
    path = tuple(step for step in info.path.as_list() if isinstance(step, str))
    ctx.sizes[path] = max(ctx.sizes.get(path, 0), len(page.items))
    return page


def _slice(ctx: Ctx, view: View, args: dict, wrap: Callable[[Any], Any], top_level: bool) -> Connection:
    first, last = args.get("first"), args.get("last")
    reverse = bool(args.get("reverse"))
    keys, rows = view.keys, view.rows
    n = len(rows)
    if ctx.bulk is not None:  # bulk operations ignore paging; the top level is served in batches
        if top_level:
            if ctx.bulk.snapshot is None:
                order = range(n - 1, -1, -1) if reverse else range(n)
                ctx.bulk.snapshot = View([rows[i] for i in order], [keys[i] for i in order], view.kind)
            snap, lo = ctx.bulk.snapshot, ctx.bulk.position
            hi = min(len(snap.rows), lo + BULK_BATCH)
            return Connection(snap.rows[lo:hi], snap.keys[lo:hi], False, False, wrap)
        order = range(n - 1, -1, -1) if reverse else range(n)
        return Connection([rows[i] for i in order], [keys[i] for i in order], False, False, wrap)
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and size > MAX_PAGE_SIZE:
            raise GraphQLError(f"{name} must be less than or equal to {MAX_PAGE_SIZE}")
        if size is not None and size < 0:
            raise GraphQLError(f"{name} must be greater than or equal to 0")
    lo, hi = 0, n
    if args.get("after"):
        value, record_id = decode_cursor(args["after"], view.kind)
        lo = n - bisect.bisect_left(keys, (value, record_id)) if reverse else bisect.bisect_right(keys, (value, record_id))
        if top_level and lo > 0 and ctx.api.sandbox.faults.repeat_boundary():
            lo -= 1  # flaky: the record before the cursor comes round again
    if args.get("before"):
        value, record_id = decode_cursor(args["before"], view.kind)
        hi = n - bisect.bisect_right(keys, (value, record_id)) if reverse else bisect.bisect_left(keys, (value, record_id))
    hi = max(lo, hi)
    if first is not None:
        hi = min(hi, lo + first)
    if last is not None:
        lo = max(lo, hi - last)
    positions = [n - 1 - i for i in range(lo, hi)] if reverse else list(range(lo, hi))
    return Connection([rows[p] for p in positions], [keys[p] for p in positions], hi < n, lo > 0, wrap)


def list_view(records: list, key: Callable[[Any], int] = lambda r: r.id) -> View:
    ordered = sorted(records, key=key)
    return View(ordered, [(key(r), key(r)) for r in ordered], "int")


