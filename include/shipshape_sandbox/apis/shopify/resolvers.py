"""The root fields (queries and `node`), the mutations (`fulfillmentCreate`,
`fulfillmentTrackingInfoUpdate`, `inventorySetQuantities`) and the bulk operations that run queries in
slices and write their JSONL results.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING

from graphql import (
    FragmentDefinitionNode,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    parse,
)

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.shopify.common import API, INVENTORY_REASONS, _gid_number, gid, parse_gid
from shipshape_sandbox.apis.shopify.cost import _is_connection, collect, connection_items, runtime_type
from shipshape_sandbox.apis.shopify.objects import (
    AdjustmentGroupObj,
    BulkOperationObj,
    FulfillmentLineItemObj,
    FulfillmentObj,
    FulfillmentOrderLineItemObj,
    FulfillmentOrderModel,
    FulfillmentOrderObj,
    InventoryItemObj,
    InventoryLevelObj,
    LineItemObj,
    LocationObj,
    MailingAddressObj,
    OrderObj,
    ProductObj,
    TransactionObj,
    VariantObj,
)
from shipshape_sandbox.apis.shopify.pagination import View, list_view, paginate
from shipshape_sandbox.apis.shopify.schema import _syntax_error, schema_for, validation_errors
from shipshape_sandbox.apis.shopify.search import INVENTORY_ITEM_SEARCH, LOCATION_SEARCH, ORDER_SEARCH
from shipshape_sandbox.apis.shopify.state import BulkRun, Ctx
from shipshape_sandbox.world import ShopifyBulkOperation, ShopifyFulfillment, ShopifyTrackingInfo, iso

if TYPE_CHECKING:
    from typing import Any

    from graphql import GraphQLSchema

    from shipshape_sandbox.apis.shopify.objects import Obj
    from shipshape_sandbox.apis.shopify.pagination import Connection
    from shipshape_sandbox.apis.shopify.state import ShopifyApi
    from shipshape_sandbox.world import ShopifyInventoryLevel, ShopifyOrder, World


# -------------------------------------------------------------------------------------------- roots
def _node(ctx: Ctx, value: str) -> Obj | None:
    """The object a global id names, or None: each kind is looked up where it lives (the world, or an
    index of the API's), then wrapped in its GraphQL object."""
    kind, number = parse_gid(value)
    world = ctx.world

    def fulfillment_order():
        order = world.shopify_orders.get(number)
        return FulfillmentOrderModel.of(ctx.api, order) if order else None

    def inventory_level():
        item_id = _query_param(value, "inventory_item_id")
        return world.shopify_inventory_levels.get((item_id, number)) if item_id is not None else None

    finders = {
        "Order": (lambda: world.shopify_orders.get(number), OrderObj),
        "Fulfillment": (lambda: ctx.api.index("fulfillments").get(number), FulfillmentObj),
        "FulfillmentOrder": (fulfillment_order, FulfillmentOrderObj),
        "LineItem": (lambda: ctx.api.index("line_items").get(number), LineItemObj),
        "OrderTransaction": (lambda: ctx.api.index("transactions").get(number), TransactionObj),
        "Location": (lambda: world.shopify_locations.get(number), LocationObj),
        "InventoryItem": (lambda: world.shopify_inventory_items.get(number), InventoryItemObj),
        "InventoryLevel": (inventory_level, InventoryLevelObj),
        "ProductVariant": (lambda: ctx.api.index("variants").get(number), VariantObj),
        "BulkOperation": (lambda: world.shopify_bulk_operations.get(value), BulkOperationObj),
    }
    if kind not in finders:
        return None
    find, wrap = finders[kind]
    found = find()
    return wrap(ctx, found) if found is not None else None


def _query_param(value: str, name: str) -> int | None:
    match = re.search(rf"[?&]{name}=(\d+)", value)
    return int(match.group(1)) if match else None


_TYPE_BY_OBJ = {
    OrderObj: "Order", FulfillmentObj: "Fulfillment", FulfillmentOrderObj: "FulfillmentOrder",
    LineItemObj: "LineItem", TransactionObj: "OrderTransaction", LocationObj: "Location",
    InventoryItemObj: "InventoryItem", InventoryLevelObj: "InventoryLevel", VariantObj: "ProductVariant",
    BulkOperationObj: "BulkOperation", ProductObj: "Product", MailingAddressObj: "MailingAddress",
    FulfillmentLineItemObj: "FulfillmentLineItem", FulfillmentOrderLineItemObj: "FulfillmentOrderLineItem",
    AdjustmentGroupObj: "InventoryAdjustmentGroup",
}


def _resolve_type(value: Any, info: Any, abstract: Any) -> str | None:
    return _TYPE_BY_OBJ.get(type(value))


def _resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """graphql-core's default resolver, minus the generality the sandbox's objects don't need."""
    if type(source) is dict:
        return source.get(info.field_name)
    value = getattr(source, info.field_name, None)
    return value(info, **args) if callable(value) else value


def _never_awaitable(_value: Any) -> bool:
    return False  # every resolver here is synchronous; skip graphql-core's per-value awaitable probe


def _free_text_order(order: ShopifyOrder) -> str:
    return " ".join([order.name.lower(), order.email.lower(), *(t.lower() for t in order.tags)])


class Root:
    """QueryRoot and Mutation fields."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    # --- queries
    def orders(self, info: Any, sortKey: str = "PROCESSED_AT", query: str | None = None, **args: Any) -> Connection:  # noqa: N803
        api = self.ctx.api
        view = api.order_view(sortKey)
        narrow = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at", "PROCESSED_AT": "processed_at",
                  "ID": "id", "ORDER_NUMBER": "id"}.get(sortKey)
        view = api.filtered_view(("orders", sortKey), view, query, ORDER_SEARCH, narrow, _free_text_order, self.ctx,
                                 [info.path.key])
        return paginate(self.ctx, info, view, args, lambda o: OrderObj(self.ctx, o), top_level=True)

    def order(self, info: Any, id: str) -> OrderObj | None:  # noqa: A002
        kind, number = parse_gid(id)
        order = self.ctx.world.shopify_orders.get(number) if kind == "Order" else None
        return OrderObj(self.ctx, order) if order else None

    def node(self, info: Any, id: str) -> Obj | None:  # noqa: A002
        return _node(self.ctx, id)

    def nodes(self, info: Any, ids: list[str]) -> list:
        return [_node(self.ctx, value) for value in ids]

    def fulfillment(self, info: Any, id: str) -> FulfillmentObj | None:  # noqa: A002
        node = _node(self.ctx, id)
        return node if isinstance(node, FulfillmentObj) else None

    def fulfillmentOrder(self, info: Any, id: str) -> FulfillmentOrderObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, FulfillmentOrderObj) else None

    def locations(self, info: Any, includeInactive: bool = False, includeLegacy: bool = False,  # noqa: N803
                  sortKey: str = "NAME", query: str | None = None, **args: Any) -> Connection:  # noqa: N803
        rows = [loc for loc in self.ctx.world.shopify_locations if includeInactive or loc.is_active]
        if sortKey == "NAME":
            ordered = sorted(rows, key=lambda loc: (loc.name.lower(), loc.id))
            view = View(ordered, [(i, loc.id) for i, loc in enumerate(ordered)], "int")
        else:
            view = list_view(rows)
        view = self.ctx.api.filtered_view(("locations", sortKey, includeInactive), view, query, LOCATION_SEARCH, None,
                                          lambda loc: loc.name.lower(), self.ctx, [info.path.key]) if query else view
        return paginate(self.ctx, info, view, args, lambda loc: LocationObj(self.ctx, loc), top_level=True)

    def location(self, info: Any, id: str | None = None) -> LocationObj | None:  # noqa: A002
        if id is None:
            merchant = sorted((loc for loc in self.ctx.world.shopify_locations
                               if loc.is_active and not loc.fulfillment_service_handle), key=lambda loc: loc.id)
            return LocationObj(self.ctx, merchant[0]) if merchant else None
        node = _node(self.ctx, id)
        return node if isinstance(node, LocationObj) else None

    def inventoryItems(self, info: Any, query: str | None = None, **args: Any) -> Connection:  # noqa: N802
        api = self.ctx.api
        view = api._cached(("inventory_items", "id"), lambda: list_view(list(api.world.shopify_inventory_items)))
        view = api.filtered_view("inventory_items", view, query, INVENTORY_ITEM_SEARCH, "id",
                                 lambda i: i.sku.lower(), self.ctx, [info.path.key])
        return paginate(self.ctx, info, view, args, lambda i: InventoryItemObj(self.ctx, i), top_level=True)

    def inventoryItem(self, info: Any, id: str) -> InventoryItemObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, InventoryItemObj) else None

    def inventoryLevel(self, info: Any, id: str) -> InventoryLevelObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, InventoryLevelObj) else None

    def currentBulkOperation(self, info: Any, type: str = "QUERY") -> BulkOperationObj | None:  # noqa: N802, A002
        if type != "QUERY":
            return None
        ops = self.ctx.api.bulk_ops()
        return BulkOperationObj(self.ctx, ops[-1]) if ops else None

    def bulkOperation(self, info: Any, id: str) -> BulkOperationObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, BulkOperationObj) else None

    # --- mutations
    def fulfillmentCreate(self, info: Any, fulfillment: dict, message: str | None = None) -> dict:  # noqa: N802
        result = fulfillment_create(self.ctx, fulfillment)
        self.ctx.api.sandbox.stats.mutation(API, "fulfillmentCreate", result["fulfillment"] is not None)
        return result

    def fulfillmentTrackingInfoUpdate(self, info: Any, fulfillmentId: str, trackingInfoInput: dict,  # noqa: N802, N803
                                      notifyCustomer: bool | None = None) -> dict:  # noqa: N803
        result = tracking_info_update(self.ctx, fulfillmentId, trackingInfoInput)
        self.ctx.api.sandbox.stats.mutation(API, "fulfillmentTrackingInfoUpdate", result["fulfillment"] is not None)
        return result

    def inventorySetQuantities(self, info: Any, input: dict) -> dict:  # noqa: N802, A002
        result, applied = inventory_set_quantities(self.ctx, input)
        self.ctx.api.sandbox.stats.mutation(API, "inventorySetQuantities", applied)
        return result

    def bulkOperationRunQuery(self, info: Any, query: str, groupObjects: bool = True) -> dict:  # noqa: N802, N803
        result = bulk_run_query(self.ctx, query, groupObjects)
        self.ctx.api.sandbox.stats.mutation(API, "bulkOperationRunQuery", result["bulkOperation"] is not None)
        return result


# -------------------------------------------------------------------------------------- mutations
def _user_error(field_path: list[str] | None, message: str, code: str | None = None) -> dict:
    out: dict[str, Any] = {"field": field_path, "message": message}
    if code is not None:
        out["code"] = code
    return out


def _touch(world: World, order: ShopifyOrder) -> None:
    """The order changed now (the lifecycle's helper when it has one)."""
    touch = getattr(lifecycle, "touch_shopify_order", None)
    if touch is not None:
        touch(world, order)
    else:
        order.updated_at = world.clock
        world.changed()


def _tracking(spec: dict | None) -> list[ShopifyTrackingInfo]:
    if not spec:
        return []
    numbers = spec.get("numbers") or ([spec["number"]] if spec.get("number") else [])
    urls = spec.get("urls") or ([spec["url"]] if spec.get("url") else [])
    company = spec.get("company")
    return [ShopifyTrackingInfo(number=n, company=company, url=urls[i] if i < len(urls) else None)
            for i, n in enumerate(numbers)]


def fulfillment_create(ctx: Ctx, spec: dict) -> dict:
    """fulfillmentCreate: fulfil fulfillment-order line items (all remaining when none are listed)."""
    world = ctx.world
    missing = {"fulfillment": None, "userErrors": [_user_error(["fulfillment"], "Fulfillment order does not exist.")]}
    bad_quantity = {"fulfillment": None, "userErrors": [
        _user_error(["fulfillment"], "Invalid fulfillment order line item quantity requested.")]}
    order: ShopifyOrder | None = None
    wanted: dict[int, int] = {}
    for pair in spec.get("lineItemsByFulfillmentOrder") or []:
        number = _gid_number(pair.get("fulfillmentOrderId"), "FulfillmentOrder")
        found = world.shopify_orders.get(number) if number is not None else None
        if found is None or (order is not None and found.id != order.id):
            return missing
        order = found
        model = FulfillmentOrderModel.of(ctx.api, order)
        if model.status == "CLOSED":
            return bad_quantity
        lines = pair.get("fulfillmentOrderLineItems")
        if not lines:
            for li_id, qty in model.remaining.items():
                if qty > 0:
                    wanted[li_id] = wanted.get(li_id, 0) + qty
            continue
        for line in lines:
            li_id = _gid_number(line.get("id"), "FulfillmentOrderLineItem")
            qty = line.get("quantity") or 0
            if li_id not in model.remaining or qty <= 0 or wanted.get(li_id, 0) + qty > model.remaining[li_id]:
                return bad_quantity
            wanted[li_id] = wanted.get(li_id, 0) + qty
    if order is None:
        return missing
    if not wanted:
        return bad_quantity
    fulfillment = ShopifyFulfillment(
        id=world.next_id("shopify_fulfillment", 5_400_000_000_000),
        created_at=world.clock,
        updated_at=world.clock,
        status="SUCCESS",
        tracking=_tracking(spec.get("trackingInfo")),
        line_items=[(li.id, wanted[li.id]) for li in order.line_items if li.id in wanted],
    )
    order.fulfillments.append(fulfillment)
    _touch(world, order)
    return {"fulfillment": FulfillmentObj(ctx, (order, fulfillment)), "userErrors": []}


def tracking_info_update(ctx: Ctx, fulfillment_id: str, spec: dict) -> dict:
    number = _gid_number(fulfillment_id, "Fulfillment")
    hit = ctx.api.index("fulfillments").get(number) if number is not None else None
    if hit is None:
        return {"fulfillment": None, "userErrors": [_user_error(["fulfillmentId"], "Fulfillment does not exist.")]}
    order, fulfillment = hit
    fulfillment.tracking = _tracking(spec)
    fulfillment.updated_at = ctx.world.clock
    _touch(ctx.world, order)
    return {"fulfillment": FulfillmentObj(ctx, (order, fulfillment)), "userErrors": []}


def inventory_set_quantities(ctx: Ctx, spec: dict) -> tuple[dict, bool]:
    """inventorySetQuantities (2025-01 … 2026-01 shape: compareQuantity / ignoreCompareQuantity)."""
    world = ctx.world
    errors: list[dict] = []
    name = spec.get("name")
    if name not in ("available", "on_hand"):
        errors.append(_user_error(["input", "name"], "The quantity name must be either 'available' or 'on_hand'.",
                                  "INVALID_NAME"))
    if spec.get("reason") not in INVENTORY_REASONS:
        errors.append(_user_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
    ignore_compare = bool(spec.get("ignoreCompareQuantity"))
    seen: set[tuple[int, int]] = set()
    plan: list[tuple[ShopifyInventoryLevel, int]] = []
    for i, qty in enumerate(spec.get("quantities") or []):
        where = ["input", "quantities", str(i)]
        item_id = _gid_number(qty.get("inventoryItemId"), "InventoryItem")
        location_id = _gid_number(qty.get("locationId"), "Location")
        if item_id is None or world.shopify_inventory_items.get(item_id) is None:
            errors.append(_user_error([*where, "inventoryItemId"], "The specified inventory item could not be found.",
                                      "INVALID_INVENTORY_ITEM"))
            continue
        if location_id is None or world.shopify_locations.get(location_id) is None:
            errors.append(_user_error([*where, "locationId"], "The specified location could not be found.",
                                      "INVALID_LOCATION"))
            continue
        if (item_id, location_id) in seen:
            errors.append(_user_error(where, "The combination of inventoryItemId and locationId must be unique.",
                                      "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add((item_id, location_id))
        level = world.shopify_inventory_levels.get((item_id, location_id))
        if level is None:
            errors.append(_user_error([*where, "locationId"],
                                      "The specified inventory item is not stocked at the location.",
                                      "ITEM_NOT_STOCKED_AT_LOCATION"))
            continue
        value = qty.get("quantity")
        if value > 1_000_000_000:
            errors.append(_user_error([*where, "quantity"], "The total quantity can't be higher than 1,000,000,000.",
                                      "INVALID_QUANTITY_TOO_HIGH"))
            continue
        if value < -1_000_000_000:
            errors.append(_user_error([*where, "quantity"], "The total quantity can't be lower than -1,000,000,000.",
                                      "INVALID_QUANTITY_TOO_LOW"))
            continue
        if name == "on_hand" and value < 0:
            errors.append(_user_error([*where, "quantity"], "The quantity can't be negative.",
                                      "INVALID_QUANTITY_NEGATIVE"))
            continue
        if not ignore_compare:
            compare = qty.get("compareQuantity")
            current = level.available if name == "available" else level.on_hand
            if compare is None:
                errors.append(_user_error(
                    [*where, "compareQuantity"],
                    "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                    "COMPARE_QUANTITY_REQUIRED"))
                continue
            if compare != current:
                errors.append(_user_error([*where, "compareQuantity"],
                                          "The compareQuantity value does not match persisted value.",
                                          "COMPARE_QUANTITY_STALE"))
                continue
        plan.append((level, value))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}, False
    changes = []
    for level, value in plan:
        before_available, before_on_hand = level.available, level.on_hand
        if name == "available":
            if value != before_available:
                if hasattr(lifecycle, "set_shopify_available"):
                    lifecycle.set_shopify_available(world, level.inventory_item_id, level.location_id, value)
                else:
                    level.on_hand += value - level.available
                    level.available = value
                    level.updated_at = world.clock
                    world.changed()
            delta = level.available - before_available
            changes.append({"name": "available", "delta": delta, "after": level.available,
                            "item": level.inventory_item_id, "location": level.location_id})
            changes.append({"name": "on_hand", "delta": level.on_hand - before_on_hand, "after": level.on_hand,
                            "item": level.inventory_item_id, "location": level.location_id})
        else:
            if value != before_on_hand:
                level.available += value - level.on_hand
                level.on_hand = value
                level.updated_at = world.clock
                item = world.shopify_inventory_items.get(level.inventory_item_id)
                if item is not None:
                    item.updated_at = world.clock
                world.changed()
            changes.append({"name": "on_hand", "delta": level.on_hand - before_on_hand, "after": level.on_hand,
                            "item": level.inventory_item_id, "location": level.location_id})
            changes.append({"name": "available", "delta": level.available - before_available,
                            "after": level.available, "item": level.inventory_item_id,
                            "location": level.location_id})
    if all(change["delta"] == 0 for change in changes):
        return {"inventoryAdjustmentGroup": None, "userErrors": []}, False
    group = {
        "id": gid("InventoryAdjustmentGroup", world.next_id("shopify_inventory_adjustment_group", 100_000_000_000)),
        "createdAt": iso(world.clock), "reason": spec.get("reason"),
        "referenceDocumentUri": spec.get("referenceDocumentUri"),
        "changes": [c for c in changes if c["delta"] != 0 or c["name"] == name],
    }
    return {"inventoryAdjustmentGroup": AdjustmentGroupObj(ctx, group), "userErrors": []}, True


# ------------------------------------------------------------------------------------------- bulk
def _bulk_invalid(message: str) -> dict:
    return {"bulkOperation": None, "userErrors": [_user_error(["query"], message, "INVALID")]}


def _connection_fields(schema: GraphQLSchema, named: Any, selection_sets: list, fragments: dict,
                       depth: int, found: list[list]) -> bool:
    """Record every connection below as [depth, name, node selects `id`, has nested connections]."""
    any_found = False
    for runtime in (schema.get_possible_types(named) if is_abstract_type(named) else [named]):
        for sub in collect(schema, runtime, selection_sets, fragments).values():
            sub_def = runtime.fields.get(sub[0].name.value)
            if sub_def is None:
                continue
            sub_named = get_named_type(sub_def.type)
            if is_leaf_type(sub_named):
                continue
            if _is_connection(sub_named, sub_def):
                node_type, node_sel = _connection_node_selection(schema, sub_named, sub, fragments)
                selects_id = node_type is not None and "id" in collect(schema, node_type, node_sel, fragments)
                entry = [depth + 1, sub[0].name.value, selects_id, False]
                found.append(entry)
                if node_type is not None:
                    entry[3] = _connection_fields(schema, node_type, node_sel, fragments, depth + 1, found)
                any_found = True
            elif _connection_fields(schema, sub_named, [n.selection_set for n in sub], fragments, depth, found):
                any_found = True
    return any_found


class _Holder:
    """A stand-in field node holding a selection set (so selection lists can be merged)."""

    def __init__(self, selection_set: Any) -> None:
        self.selection_set = selection_set


def _connection_node_selection(schema: GraphQLSchema, conn_type: Any, nodes: list, fragments: dict):
    """The node type of a connection and the selection sets made on its nodes (via edges.node or nodes)."""
    node_type = get_named_type(conn_type.fields["nodes"].type) if "nodes" in conn_type.fields else None
    selections = []
    conn_fields = collect(schema, conn_type, [n.selection_set for n in nodes], fragments)
    for sub in conn_fields.values():
        name = sub[0].name.value
        if name == "nodes":
            selections.extend(s.selection_set for s in sub)
        elif name == "edges":
            edge_type = get_named_type(conn_type.fields["edges"].type)
            for edge_sub in collect(schema, edge_type, [s.selection_set for s in sub], fragments).values():
                if edge_sub[0].name.value == "node":
                    selections.extend(s.selection_set for s in edge_sub)
    return node_type, selections


def bulk_run_query(ctx: Ctx, query: str, group_objects: bool) -> dict:
    api = ctx.api
    schema = schema_for(ctx.version)
    try:
        document = parse(query)
    except GraphQLSyntaxError as err:
        message, _, _ = _syntax_error(query, err)
        return _bulk_invalid(f"Invalid bulk query: {message}")
    problems = validation_errors(schema, document)
    if problems:
        return _bulk_invalid(f"Invalid bulk query: {problems[0]['message']}")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(operations) != 1 or operations[0].operation.value != "query":
        return _bulk_invalid("Invalid bulk query: bulk queries must contain exactly one query operation.")
    root = schema.query_type
    roots = collect(schema, root, [operations[0].selection_set], fragments)
    found: list[list] = []
    _connection_fields(schema, root, [operations[0].selection_set], fragments, 0, found)
    if not found:
        return _bulk_invalid("Bulk queries must contain at least one connection.")
    if len(roots) != 1:
        return _bulk_invalid("Bulk queries must contain exactly one top-level field.")
    top = next(iter(roots.values()))
    top_def = root.fields[top[0].name.value]
    if not _is_connection(get_named_type(top_def.type), top_def):
        return _bulk_invalid("Bulk queries must have a connection field at the top level.")
    if len(found) > 5:
        return _bulk_invalid("Bulk queries cannot contain more than 5 connections.")
    if any(entry[0] > 2 for entry in found):
        return _bulk_invalid("Bulk queries cannot contain connections with a nesting depth greater than 2.")
    nested_parents_without_id = [name for _, name, selects_id, nested in found if nested and not selects_id]
    if nested_parents_without_id:
        return _bulk_invalid("The parent 'node' field for a nested connection must select the 'id' field. "
                             f"Connection fields without 'id': {', '.join(nested_parents_without_id)}.")
    running = [op for op in api.bulk_ops() if op.status in ("CREATED", "RUNNING", "CANCELING")]
    limit = 5 if ctx.version >= "2026-01" else 1
    if len(running) >= limit:
        return {"bulkOperation": None, "userErrors": [_user_error(
            None, f"A bulk query operation for this app and shop is already in progress: {running[-1].id}.",
            "OPERATION_IN_PROGRESS")]}
    world = ctx.world
    op = ShopifyBulkOperation(
        id=gid("BulkOperation", world.next_id("shopify_bulk_operation", 3_200_000_000_000)),
        query=query, status="CREATED", created_at=world.clock)
    world.shopify_bulk_operations.add(op)
    api.bulk_runs[op.id] = BulkRun(ctx.version, group_objects)
    api.start_bulk(op)
    return {"bulkOperation": BulkOperationObj(ctx, op), "userErrors": []}


async def _drive_bulk(api: ShopifyApi, op: ShopifyBulkOperation) -> None:
    try:
        while not bulk_step(api, op):
            await asyncio.sleep(0)  # between slices only: each slice reads the world in one go
    except Exception:  # noqa: BLE001 - a failed bulk query is reported on the operation, as Shopify does
        op.status, op.error_code, op.completed_at = "FAILED", "INTERNAL_SERVER_ERROR", api.world.clock
        api.world.changed()


def bulk_step(api: ShopifyApi, op: ShopifyBulkOperation) -> bool:
    """Run the next slice of a bulk query; write Shopify's JSONL (children after their parent). Done?"""
    run = api.bulk_runs[op.id]
    world = api.world
    schema = schema_for(run.version)
    document = parse(op.query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    ctx = Ctx(api, run.version, bulk=run)
    result = execute(schema, document, root_value=Root(ctx), context_value=ctx, type_resolver=_resolve_type,
                     field_resolver=_resolve_field, is_awaitable=_never_awaitable)
    if result.errors or not result.data:
        op.status, op.error_code, op.completed_at = "FAILED", "INTERNAL_SERVER_ERROR", world.clock
        op.result = "".join(run.lines).encode() or None
        world.changed()
        return True
    root = schema.query_type
    visited = 0
    for key, nodes in collect(schema, root, [operation.selection_set], fragments).items():
        conn_type = get_named_type(root.fields[nodes[0].name.value].type)
        node_type, selections = _connection_node_selection(schema, conn_type, nodes, fragments)
        for item in connection_items(result.data.get(key) or {}):
            visited += 1
            _emit(schema, node_type, selections, item, None, fragments, run.lines, api.sandbox.faults)
    run.position += visited
    run.root_object_count += visited
    op.object_count = len(run.lines)
    done = visited == 0 or run.snapshot is None or run.position >= len(run.snapshot.rows)
    if op.status == "CREATED":
        op.status = "RUNNING"
        world.changed()
    if done:
        body = "".join(run.lines).encode()
        op.status, op.completed_at = "COMPLETED", world.clock
        op.file_size, op.result = len(body), body
        run.lines, run.snapshot = [], None
        world.changed()
    return done


def _emit(schema: GraphQLSchema, node_type: Any, selections: list, item: Any, parent_id: str | None,
          fragments: dict, lines: list[str], faults: Any) -> None:
    if not isinstance(item, dict):
        return
    runtime = runtime_type(schema, node_type, item)
    line: dict[str, Any] = {}
    children = []
    for key, sub in collect(schema, runtime, selections, fragments).items():
        sub_def = runtime.fields.get(sub[0].name.value)
        if sub_def is None or key not in item:
            continue
        sub_named = get_named_type(sub_def.type)
        if not is_leaf_type(sub_named) and _is_connection(sub_named, sub_def):
            children.append((sub_named, sub, item[key]))
        else:
            line[key] = item[key]
    if parent_id is not None:
        line["__parentId"] = parent_id
    if runtime.name == "Order" and "id" in line and faults.mode == "hostile":
        _corrupt_order(faults, line)
    lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
    for conn_type, sub, value in children:
        child_type, child_selections = _connection_node_selection(schema, conn_type, sub, fragments)
        for child in connection_items(value or {}):
            _emit(schema, child_type, child_selections, child, item.get("id"), fragments, lines, faults)


def _corrupt_order(faults: Any, rendered: dict) -> None:
    """hostile: malform the orders the seed picks (only fields the query selected can be hit)."""
    faults.corrupt("shopify.order", rendered, id_path=("id",), amount_path=("totalPriceSet", "shopMoney", "amount"),
                   currency_path=("currencyCode",), timestamp_path=("updatedAt",))


