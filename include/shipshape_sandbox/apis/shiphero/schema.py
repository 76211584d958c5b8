"""ShipHero's schema subset (`shiphero_schema.graphql`) with the sandbox's resolvers and the ISODateTime
scalar's parsing attached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from graphql import GraphQLSchema, build_schema
from graphql.language import StringValueNode

from shipshape_sandbox.apis.shiphero.mutations import (
    order_add_line_items,
    order_cancel,
    order_create,
    order_remove_line_items,
    order_update,
    order_update_fulfillment_status,
    order_update_holds,
    order_update_line_items,
)
from shipshape_sandbox.apis.shiphero.resolvers import (
    resolve_order,
    resolve_orders,
    resolve_product,
    resolve_products,
    resolve_shipment,
    resolve_shipments,
    resolve_user_quota,
    resolve_warehouse_products,
)


def _parse_dt(value: Any) -> datetime:
    """ISODateTime input: YYYY-mm-dd, YYYY-mm-dd HH:MM:SS or YYYY-mm-ddTHH:MM:SS (UTC unless an offset)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"ISODateTime cannot represent a non-string value: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"Invalid ISO 8601 datetime: {value!r}") from None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_dt_literal(node: Any, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise ValueError("ISODateTime must be a string")
    return _parse_dt(node.value)


QUERY_RESOLVERS: dict[str, Callable[..., Any]] = {
    "order": resolve_order,
    "orders": resolve_orders,
    "shipment": resolve_shipment,
    "shipments": resolve_shipments,
    "product": resolve_product,
    "products": resolve_products,
    "warehouse_products": resolve_warehouse_products,
    "user_quota": resolve_user_quota,
}
MUTATION_RESOLVERS: dict[str, Callable[..., Any]] = {
    "order_create": order_create,
    "order_update": order_update,
    "order_add_line_items": order_add_line_items,
    "order_update_line_items": order_update_line_items,
    "order_remove_line_items": order_remove_line_items,
    "order_update_fulfillment_status": order_update_fulfillment_status,
    "order_update_holds": order_update_holds,
    "order_cancel": order_cancel,
}


@cache
def schema() -> GraphQLSchema:
    """ShipHero's schema subset, with the sandbox's resolvers and ISODateTime parsing attached."""
    sdl = resources.files("shipshape_sandbox.apis.shiphero").joinpath("shiphero_schema.graphql").read_text()
    built = build_schema(sdl)
    iso = built.type_map["ISODateTime"]
    iso.parse_value = iso.coerce_input_value = _parse_dt  # type: ignore[method-assign]
    iso.parse_literal = _parse_dt_literal  # type: ignore[method-assign]
    assert built.query_type is not None and built.mutation_type is not None
    for name, resolver in QUERY_RESOLVERS.items():
        built.query_type.fields[name].resolve = resolver
    for name, resolver in MUTATION_RESOLVERS.items():
        built.mutation_type.fields[name].resolve = resolver
    return built
