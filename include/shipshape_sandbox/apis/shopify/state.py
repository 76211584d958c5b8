"""What the Shopify routes share per sandbox: the bucket knobs (`configure`), the cost buckets, cached
sorted and filtered views, child-record indexes, and bulk runs (`ShopifyApi`); a request's context (`Ctx`).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.shopify.common import BUCKET_SIZE, RESTORE_RATE, _gid_number
from shipshape_sandbox.apis.shopify.pagination import View
from shipshape_sandbox.apis.shopify.search import (
    _parse_time,
    _range_terms,
    evaluate,
    parse_search,
    parsed_search,
    search_terms,
)
from shipshape_sandbox.ratelimit import Bucket

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from shipshape_sandbox.apis.shopify.search import SearchField
    from shipshape_sandbox.server import Sandbox
    from shipshape_sandbox.world import ShopifyBulkOperation, ShopifyLocation, World


# -------------------------------------------------------------------------------------------- state
@dataclass
class ShopifyConfig:
    """Knobs tests turn before the app is built: bucket size, restore rate and the bucket's clock."""

    capacity: float = BUCKET_SIZE
    restore_rate: float = RESTORE_RATE
    clock: Callable[[], float] = time.monotonic


_CONFIGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_APIS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def configure(sandbox: Sandbox, **changes: Any) -> ShopifyConfig:
    """Set bucket knobs for `sandbox` before `create_app` builds the Shopify routes."""
    config = _CONFIGS.setdefault(sandbox, ShopifyConfig())
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def api_for(sandbox: Sandbox) -> ShopifyApi:
    return _APIS[sandbox]


@dataclass
class BulkRun:
    """A bulk query in progress: the root records it will visit, how far it got, what it wrote."""

    version: str
    group_objects: bool
    snapshot: View | None = None
    position: int = 0
    root_object_count: int = 0
    lines: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    api: ShopifyApi
    version: str
    bulk: BulkRun | None = None
    search: list = field(default_factory=list)
    sizes: dict[tuple, int] = field(default_factory=dict)  # items each connection returned, by path

    @property
    def world(self) -> World:
        return self.api.world


class ShopifyApi:
    """Everything the Shopify routes share: the sandbox, buckets, view caches and bulk runs."""

    def __init__(self, sandbox: Sandbox, config: ShopifyConfig) -> None:
        self.sandbox = sandbox
        self.config = config
        self.buckets: dict[str, Bucket] = {}
        self.views: dict[Any, tuple[int, View]] = {}
        self.filtered: OrderedDict[Any, tuple[int, View]] = OrderedDict()
        self.indexes: dict[str, tuple[int, Any]] = {}
        self.bulk_runs: dict[str, BulkRun] = {}
        self.tasks: set[asyncio.Task] = set()

    @property
    def world(self) -> World:
        return self.sandbox.world

    def bucket(self, token: str) -> Bucket:
        bucket = self.buckets.get(token)
        if bucket is None:
            bucket = self.buckets[token] = Bucket(self.config.capacity, self.config.restore_rate, self.config.clock)
        return bucket

    # --- cached views and indexes (rebuilt when the world's revision moves)
    def _cached(self, key: Any, build: Callable[[], Any]) -> Any:
        hit = self.views.get(key)
        if hit is not None and hit[0] == self.world.revision:
            return hit[1]
        value = build()
        self.views[key] = (self.world.revision, value)
        return value

    def order_view(self, sort_key: str) -> View:
        world = self.world
        if sort_key in ("UPDATED_AT", "CREATED_AT", "PROCESSED_AT"):
            attr = "updated_at" if sort_key == "UPDATED_AT" else "created_at"

            def build() -> View:
                rows = world.shopify_orders.sorted_by(attr)
                return View(rows, [(getattr(r, attr), r.id) for r in rows], "time")

            return self._cached(("orders", attr), build)
        if sort_key in ("TOTAL_PRICE", "CURRENT_TOTAL_PRICE"):
            current = sort_key == "CURRENT_TOTAL_PRICE"

            def build_price() -> View:
                rows = sorted(world.shopify_orders, key=lambda o: (o.total(current), o.id))
                return View(rows, [(o.total(current), o.id) for o in rows], "int")

            return self._cached(("orders", sort_key), build_price)

        # ID, ORDER_NUMBER and the sort keys the sandbox doesn't model order by id (names follow ids)
        def build_id() -> View:
            rows = world.shopify_orders.sorted_by("id")
            return View(rows, [(r.id, r.id) for r in rows], "int")

        return self._cached(("orders", "id"), build_id)

    def filtered_view(self, name: Any, view: View, query: str | None, fields: dict[str, SearchField],
                      narrow_attr: str | None, free_text: Callable[[Any], str], ctx: Ctx,
                      path: list[str]) -> View:
        tree = parse_search(query) if query else None
        if tree is None:
            return view
        unknown = sorted({t.field for t in search_terms(tree) if t.field is not None and t.field not in fields})
        if unknown:
            ctx.search.append({"path": path, "query": query, "parsed": parsed_search(tree), "warnings": [
                {"field": f, "message": "Invalid search field for this query.", "code": "invalid_field"}
                for f in unknown]})
        key = (name, query)
        hit = self.filtered.get(key)
        if hit is not None and hit[0] == self.world.revision:
            self.filtered.move_to_end(key)
            return hit[1]
        lo, hi = 0, len(view.rows)
        if narrow_attr is not None:  # the sort attribute's range narrows by bisection before any scan
            for term in _range_terms(tree):
                if term.field != narrow_attr or term.op == ":":
                    continue
                bound: Any
                if fields[narrow_attr].kind == "time":
                    parsed = _parse_time(term.value)
                    if parsed is None:
                        continue
                    bound, whole_day = parsed
                    if whole_day and term.op in (">", "<="):
                        bound += timedelta(days=1) - timedelta(microseconds=1)
                else:
                    try:
                        bound = int(term.value.rsplit("/", 1)[-1])
                    except ValueError:
                        continue
                if term.op == ">=":
                    lo = max(lo, bisect.bisect_left(view.keys, (bound,)))
                elif term.op == ">":
                    lo = max(lo, bisect.bisect_right(view.keys, (bound, math.inf)))
                elif term.op == "<":
                    hi = min(hi, bisect.bisect_left(view.keys, (bound,)))
                elif term.op == "<=":
                    hi = min(hi, bisect.bisect_right(view.keys, (bound, math.inf)))
        rows, keys = [], []
        for i in range(lo, max(lo, hi)):
            if evaluate(tree, view.rows[i], fields, free_text):
                rows.append(view.rows[i])
                keys.append(view.keys[i])
        result = View(rows, keys, view.kind)
        self.filtered[key] = (self.world.revision, result)
        while len(self.filtered) > 32:
            self.filtered.popitem(last=False)
        return result

    def index(self, name: str) -> Any:
        """Lookups by a child record's id (fulfillment, line item, transaction -> order; variant -> item)."""
        hit = self.indexes.get(name)
        if hit is not None and hit[0] == self.world.revision:
            return hit[1]
        world = self.world
        if name == "fulfillments":
            value = {f.id: (o, f) for o in world.shopify_orders for f in o.fulfillments}
        elif name == "line_items":
            value = {li.id: (o, li) for o in world.shopify_orders for li in o.line_items}
        elif name == "transactions":
            value = {t.id: (o, t) for o in world.shopify_orders for t in o.transactions}
        elif name == "variants":
            value = {i.variant_id: i for i in world.shopify_inventory_items}
        elif name == "levels_by_item":
            value = {}
            for level in world.shopify_inventory_levels.values():
                value.setdefault(level.inventory_item_id, []).append(level)
        elif name == "levels_by_location":
            value = {}
            for level in world.shopify_inventory_levels.values():
                value.setdefault(level.location_id, []).append(level)
        else:
            raise KeyError(name)
        self.indexes[name] = (world.revision, value)
        return value

    def fulfilling_location(self) -> ShopifyLocation | None:
        """Where the shop's orders are fulfilled from: the 3PL's location if there is one."""
        locations = sorted(self.world.shopify_locations, key=lambda loc: loc.id)
        for loc in locations:
            if loc.is_active and loc.fulfillment_service_handle:
                return loc
        return next((loc for loc in locations if loc.is_active), locations[0] if locations else None)

    # --- bulk operations
    def bulk_ops(self) -> list[ShopifyBulkOperation]:
        return sorted(self.world.shopify_bulk_operations, key=lambda op: _gid_number(op.id, "BulkOperation") or 0)

    def start_bulk(self, op: ShopifyBulkOperation) -> None:
        """Run a bulk query in slices on the event loop (or at once when there is no loop)."""
        # the bulk machinery runs queries through the resolvers, which use this module: imported here
        from shipshape_sandbox.apis.shopify.resolvers import _drive_bulk, bulk_step

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            while not bulk_step(self, op):
                pass
            return
        task = loop.create_task(_drive_bulk(self, op))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


