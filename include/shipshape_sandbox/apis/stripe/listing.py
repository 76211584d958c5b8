"""Listing and retrieving Stripe objects: the listable kinds (`RESOURCES`), cursor pagination newest
first, the `created[...]` and per-kind filters (indexed once per world revision), `expand[]`, and the
hostile-mode malformations of what is returned.
"""

from __future__ import annotations

import fnmatch
import heapq
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe.common import EVENT_RETENTION
from shipshape_sandbox.apis.stripe.errors import _invalid, _no_such
from shipshape_sandbox.apis.stripe.params import _as_int, _as_list, _as_str, _check_known
from shipshape_sandbox.apis.stripe.render import render_event, render_object
from shipshape_sandbox.apis.stripe.state import _attr
from shipshape_sandbox.world import epoch

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.apis.stripe.api import Ctx, _Api
    from shipshape_sandbox.world import StripeCharge, StripeEvent


@dataclass(frozen=True)
class Resource:
    """One listable Stripe object kind."""

    kind: str  # payment_intent | charge | refund | dispute | event
    path: str  # /v1/charges
    table: str  # World attribute
    filters: tuple[str, ...]  # scalar list filters besides the common ones
    expandable: dict[str, str] = field(default_factory=dict)  # field -> resource kind it expands to
    id_prefixes: tuple[str, ...] = ()


RESOURCES = {
    "payment_intent": Resource(
        "payment_intent", "/v1/payment_intents", "stripe_payment_intents", ("customer", "customer_account"),
        {"latest_charge": "charge"}, ("pi_",),
    ),
    "charge": Resource(
        "charge", "/v1/charges", "stripe_charges", ("customer", "payment_intent", "transfer_group"),
        {"payment_intent": "payment_intent"}, ("ch_", "py_"),
    ),
    "refund": Resource(
        "refund", "/v1/refunds", "stripe_refunds", ("charge", "payment_intent"),
        {"charge": "charge", "payment_intent": "payment_intent"}, ("re_", "pyr_"),
    ),
    "dispute": Resource(
        "dispute", "/v1/disputes", "stripe_disputes", ("charge", "payment_intent"),
        {"charge": "charge", "payment_intent": "payment_intent"}, ("dp_", "du_"),
    ),
    "event": Resource("event", "/v1/events", "stripe_events", ("type", "delivery_success"), {}, ("evt_",)),
}


def _position(rows: list[Any], created: int, object_id: str) -> int:
    """Index of the first row at or after (created, id) in a list ordered newest first."""
    lo, hi = 0, len(rows)
    while lo < hi:
        mid = (lo + hi) // 2
        row = rows[mid]
        if row.created > created or (row.created == created and row.id > object_id):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _created_bounds(rows: list[Any], created: Any) -> tuple[int, int]:
    """The slice of a newest-first list that a `created` filter keeps."""
    start, end = 0, len(rows)
    if created is None:
        return start, end
    if isinstance(created, str):
        value = _as_int(created, "created")
        bounds = {"gte": value, "lte": value}
    else:
        _check_known(created, ("gt", "gte", "lt", "lte"), "created")
        bounds = {op: _as_int(v, f"created[{op}]") for op, v in created.items()}

    def neg(row: Any) -> int:
        return -row.created

    if "lt" in bounds:
        start = max(start, bisect_right(rows, -bounds["lt"], key=neg))
    if "lte" in bounds:
        start = max(start, bisect_left(rows, -bounds["lte"], key=neg))
    if "gt" in bounds:
        end = min(end, bisect_left(rows, -bounds["gt"], key=neg))
    if "gte" in bounds:
        end = min(end, bisect_right(rows, -bounds["gte"], key=neg))
    return start, max(start, end)


def rows_newest_first(api: _Api, resource: Resource) -> list[Any]:
    return getattr(api.world, resource.table).sorted_by("created", reverse=True)


def lookup(api: _Api, kind: str, object_id: str) -> Any:
    return getattr(api.world, RESOURCES[kind].table).get(object_id)


def expand_paths(params: dict[str, Any], listing: bool) -> list[str]:
    if "expand" not in params:
        return []
    paths = [_as_str(p, "expand") for p in _as_list(params["expand"], "expand")]
    out = []
    for p in paths:
        if listing:
            if not p.startswith("data."):
                raise _invalid(f"This property cannot be expanded ({p}).", param="expand")
            p = p[len("data.") :]
        out.append(p)
    return out


def expand_object(api: _Api, resource: Resource, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for p in paths:
        if p in resource.expandable:
            value = obj.get(p)
            if isinstance(value, str):
                target = lookup(api, resource.expandable[p], value)
                obj[p] = render_object(api.state, target) if target is not None else value
        elif p in obj and obj[p] is None:
            continue  # expanding an empty reference leaves it null, as Stripe does
        else:
            raise _invalid(f"This property cannot be expanded ({p}).", param="expand")
    return obj


def finish(api: _Api, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """Hostile mode: malform the rendered object the way the seed says this record is malformed."""
    faults = api.sandbox.faults
    if faults.mode != "hostile":
        return obj
    if resource.kind == "event":
        return faults.corrupt(
            "stripe.event", obj, id_path=("id",), amount_path=("data", "object", "amount"),
            currency_path=("data", "object", "currency"), timestamp_path=("created",),
        )
    return faults.corrupt(
        f"stripe.{resource.kind}", obj, id_path=("id",), amount_path=("amount",),
        currency_path=("currency",), timestamp_path=("created",),
    )


def render_row(api: _Api, resource: Resource, row: Any) -> dict[str, Any]:
    state = api.state
    if resource.kind == "event":
        return render_event(state, row)
    return render_object(state, row)


def list_objects(api: _Api, resource: Resource, ctx: Ctx, rows: list[Any] | None = None) -> tuple[int, dict]:
    params = ctx.params
    common = ("limit", "starting_after", "ending_before", "expand", "created")
    _check_known(params, common + resource.filters + (("types",) if resource.kind == "event" else ()))
    limit = 10
    if "limit" in params:
        limit = _as_int(params["limit"], "limit")
        if limit < 1:
            raise _invalid("This value must be greater than or equal to 1.", param="limit",
                           code="parameter_invalid_integer")
        if limit > 100:
            raise _invalid("This value must be less than or equal to 100.", param="limit",
                           code="parameter_invalid_integer")
    if "starting_after" in params and "ending_before" in params:
        raise _invalid("You may only specify one of these parameters: ending_before, starting_after.",
                       param="ending_before")
    expand = expand_paths(params, listing=True)
    if rows is None:
        rows = filtered_rows(api, resource, params)
    start, end = _created_bounds(rows, params.get("created"))
    if resource.kind == "event":
        # Only the last 30 days of events can be listed.
        horizon = epoch(api.world.clock) - EVENT_RETENTION
        end = min(end, _position(rows, horizon - 1, "\uffff"))
        end = max(start, end)
    cursor_param = "starting_after" if "starting_after" in params else (
        "ending_before" if "ending_before" in params else None)
    if cursor_param is None:
        page_start, page_end = start, min(end, start + limit)
        has_more = page_end < end
    else:
        cursor_id = _as_str(params[cursor_param], cursor_param)
        cursor = lookup(api, resource.kind, cursor_id)
        if cursor is None:
            raise _no_such(resource.kind, cursor_id, cursor_param, 400)
        pos = _position(rows, cursor.created, cursor.id)
        found = pos < len(rows) and rows[pos] is cursor
        if cursor_param == "starting_after":
            after = pos + 1 if found else pos
            if found and api.sandbox.faults.repeat_boundary():
                after = pos  # the record that ended the previous page opens this one again
            page_start = max(start, after)
            page_end = max(page_start, min(end, page_start + limit))
            has_more = page_end < end
        else:
            page_end = max(start, min(end, pos))
            page_start = max(start, page_end - limit)
            has_more = page_start > start
    data = []
    for row in rows[page_start:page_end]:
        obj = render_row(api, resource, row)
        if expand:
            obj = expand_object(api, resource, obj, expand)
        data.append(finish(api, resource, obj))
    return 200, {"object": "list", "data": data, "has_more": has_more, "url": resource.path}


def filtered_rows(api: _Api, resource: Resource, params: dict[str, Any]) -> list[Any]:
    rows = rows_newest_first(api, resource)
    state = api.state
    active: list[list[Any]] = []
    for name in resource.filters:
        if name not in params or name in ("type", "delivery_success"):
            continue
        value = _as_str(params[name], name)
        active.append(filter_index(api, resource, name, rows).get(value, []))
    if resource.kind == "event":
        if "type" in params and "types" in params:
            raise _invalid("You may only specify one of these parameters: type, types.", param="type")
        if "delivery_success" in params:
            flag = _as_str(params["delivery_success"], "delivery_success")
            if flag not in ("true", "false"):
                raise _invalid(f"Invalid boolean: {flag}", param="delivery_success",
                               code="parameter_invalid_boolean")
        patterns: list[str] | None = None
        if "type" in params:
            patterns = [_as_str(params["type"], "type")]
        elif "types" in params:
            patterns = [_as_str(t, "types") for t in _as_list(params["types"], "types")]
            if len(patterns) > 20:
                raise _invalid("You may pass up to 20 types.", param="types")
        if patterns is not None:
            active.append(state.memo(("events.types", tuple(patterns)), lambda: events_of(api, rows, patterns)))
    if not active:
        return rows
    if len(active) == 1:
        return active[0]
    keep = set.intersection(*(set(map(id, group)) for group in active[1:]))
    return [row for row in active[0] if id(row) in keep]


def filter_index(api: _Api, resource: Resource, name: str, rows: list[Any]) -> dict[str, list[Any]]:
    state = api.state
    world = api.world
    if resource.kind == "charge" and name == "customer":
        def charge_customer(ch: StripeCharge) -> str | None:
            pi = world.stripe_payment_intents.get(ch.payment_intent) if ch.payment_intent else None
            return pi.customer if pi is not None else None

        return state.index("charge.customer", rows, charge_customer)
    if name in ("transfer_group", "customer_account"):
        extras = state.extras
        return state.index(f"{resource.kind}.{name}", rows, lambda r: extras.get(r.id, {}).get(name))
    return state.index(f"{resource.kind}.{name}", rows, _attr(name))


def events_of(api: _Api, rows: list[StripeEvent], patterns: list[str]) -> list[StripeEvent]:
    by_type = api.state.index("event.type", rows, _attr("type"))
    types = {t for p in patterns for t in by_type if (fnmatch.fnmatchcase(t, p) if "*" in p else t == p)}
    groups = [by_type[t] for t in sorted(types)]
    return list(heapq.merge(*groups, key=lambda e: (e.created, e.id), reverse=True))


def retrieve(api: _Api, resource: Resource, ctx: Ctx, object_id: str) -> tuple[int, dict]:
    _check_known(ctx.params, ("expand",))
    expand = expand_paths(ctx.params, listing=False)
    row = lookup(api, resource.kind, object_id)
    if row is None or (
        resource.kind == "event" and row.created < epoch(api.world.clock) - EVENT_RETENTION
    ):
        raise _no_such(resource.kind, object_id, "id", 404)
    obj = render_row(api, resource, row)
    if expand:
        obj = expand_object(api, resource, obj, expand)
    return 200, finish(api, resource, obj)
