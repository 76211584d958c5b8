"""Listings and connections: graphene's offset cursors (`arrayconnection:<n>`), graphql-relay's
connection slicing with ShipHero's default page of 100, and filtered, sorted row selection over the
world's cached sorted views.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import GraphQLError

from shipshape_sandbox.apis.shiphero.state import DEFAULT_PAGE, ShipHeroState


def _cursor(offset: int) -> str:
    return base64.b64encode(f"arrayconnection:{offset}".encode()).decode()


def _cursor_offset(cursor: str | None) -> int | None:
    """graphene's offset cursors; an unreadable cursor counts as absent, as graphql-relay does."""
    if not cursor:
        return None
    try:
        prefix, _, offset = base64.b64decode(cursor).decode().partition(":")
        return int(offset) if prefix == "arrayconnection" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _connection(
    state: ShipHeroState,
    items: Sequence[Any],
    args: dict[str, Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    total: bool = False,
    corrupt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """graphql-relay's connection_from_array over `items`, with ShipHero's default page of 100."""
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    if first is None and last is None:
        first = DEFAULT_PAGE
    n = len(items)
    after_offset = _cursor_offset(after)
    before_offset = _cursor_offset(before)
    start = 0 if after_offset is None else after_offset + 1
    if after_offset is not None and after_offset >= 0 and state.sandbox.faults.repeat_boundary():
        start = after_offset  # the fault policy repeats the last record of the previous page
    end = n if before_offset is None else min(n, before_offset)
    if first is not None:
        if first < 0:
            raise GraphQLError("Argument 'first' must be a non-negative integer.")
        end = min(end, start + first)
    if last is not None:
        if last < 0:
            raise GraphQLError("Argument 'last' must be a non-negative integer.")
        start = max(start, end - last)
    start = max(0, start)
    edges = []
    for i in range(start, max(start, end)):
        node = render(items[i])
        if corrupt is not None:
            node = corrupt(node)
        edges.append({"cursor": _cursor(i), "node": node})
    lower = after_offset + 1 if after_offset is not None else 0
    upper = before_offset if before_offset is not None else n
    result = {
        "edges": edges,
        "pageInfo": {
            "hasPreviousPage": last is not None and start > lower,
            "hasNextPage": first is not None and end < upper,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
    if total:
        result["total_count"] = n
    return result


def _window(view: Sequence[Any], attr: str, lo: Any, hi: Any) -> tuple[int, int]:
    """The slice of a sorted view whose `attr` lies in [lo, hi] (either bound optional)."""
    key = attrgetter(attr)
    start = 0 if lo is None else bisect_left(view, lo, key=key)
    end = len(view) if hi is None else bisect_right(view, hi, key=key)
    return start, max(start, end)


@dataclass(frozen=True)
class _Range:
    attr: str
    lo: Any = None
    hi: Any = None

    def holds(self, row: Any) -> bool:
        value = getattr(row, self.attr)
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


def _select(
    state: ShipHeroState,
    table: Any,
    name: str,
    *,
    ranges: list[_Range],
    predicate: Callable[[Any], bool] | None,
    sort: tuple[str, bool],
    key_attr: str,
    args_key: tuple,
) -> Sequence[Any]:
    """Rows matching `ranges` (bisected on a cached sorted view) and `predicate`, in `sort` order."""
    sort_attr, desc = sort
    if not ranges and predicate is None:
        return table.sorted_by(sort_attr, reverse=desc)

    def compute() -> list[Any]:
        if ranges:
            first, rest = ranges[0], ranges[1:]
            view = table.sorted_by(first.attr)
            start, end = _window(view, first.attr, first.lo, first.hi)
            rows = view[start:end]
            already_sorted = first.attr == sort_attr
        else:
            rest, rows, already_sorted = [], table.sorted_by(sort_attr), True
        # A sync re-anchors its window after every page (a fresh listing each time), so with nothing left
        # to check the bisected slice is the answer: a per-row pass here made a large sync quadratic. The
        # slice is a copy (the uncut cached view only comes with a predicate), so sort and reverse stay local.
        if rest or predicate is not None:
            rows = [r for r in rows if all(rg.holds(r) for rg in rest) and (predicate is None or predicate(r))]
        if not already_sorted:
            rows.sort(key=attrgetter(sort_attr, key_attr))
        if desc:
            rows.reverse()
        return rows

    return state.cached((name, args_key, sort), compute)


def _sort_arg(sort: str | None, allowed: dict[str, str], default: str) -> tuple[str, bool]:
    if not sort:
        return default, False
    desc = sort.startswith("-")
    name = sort.lstrip("-+").strip()
    if name not in allowed:
        raise GraphQLError(f"Invalid sort field: {name}. Options are: {', '.join(sorted(allowed))}")
    return allowed[name], desc


def _freeze(args: dict[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()))
