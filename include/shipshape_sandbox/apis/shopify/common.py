"""The Shopify emulation's constants (versions, the cost bucket, limits) and value formats: money,
global ids (`gid://shopify/...`) and the GraphQL error shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from graphql import GraphQLError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


API = "shopify"
SUPPORTED_VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01")
_VERSION_FORMAT = re.compile(r"\d{4}-(?:01|04|07|10)")
BUCKET_SIZE = 2000.0  # Standard plan: 100 points/s restore, bucket of 20 s
RESTORE_RATE = 100.0
MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
MUTATION_COST = 10
MUTATION_COSTS = {"fulfillmentTrackingInfoUpdate": 50}  # live capture: 51 with one trackingInfo list
FREE_TYPES = frozenset({"MoneyBag", "MoneyV2", "PageInfo"})
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
SHOP_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # when the sandbox shop's locations and items were set up
BULK_BATCH = 1000  # root records per slice of a bulk query; the event loop breathes between slices
INVENTORY_REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_canceled", "movement_created",
    "movement_received", "movement_updated", "other", "promotion", "quality_control", "received",
    "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock",
    "shrinkage",
})
GATEWAY_NAMES = {"stripe": "Stripe", "paypal": "PayPal Express Checkout", "manual": "Manual"}


# -------------------------------------------------------------------------------------------- format
def money(cents: int) -> str:
    """Shopify's Decimal rendering of an amount: "12.3", "12.0", "12.05"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    text = f"{whole}.{frac:02d}".rstrip("0")
    return sign + (text + "0" if text.endswith(".") else text)


def bag(cents: int, currency: str) -> dict[str, Any]:
    amount = {"amount": money(cents), "currencyCode": currency}
    return {"presentmentMoney": amount, "shopMoney": dict(amount)}


def gid(kind: str, num: int | str, query: str = "") -> str:
    return f"gid://shopify/{kind}/{num}{query}"


_GID = re.compile(r"gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?")


def parse_gid(value: str, kind: str | None = None) -> tuple[str, int]:
    """(type, number) of a global id; raises Shopify's coercion error for a malformed one."""
    match = _GID.fullmatch(value or "")
    if not match:
        raise GraphQLError(f"Invalid global id '{value}'",
                           extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"})
    return match.group(1), int(match.group(2))


def _gid_number(value: Any, kind: str) -> int | None:
    """The number in a `gid://shopify/<kind>/N`, or None when it names something else or nothing."""
    match = _GID.fullmatch(value) if isinstance(value, str) else None
    if not match or match.group(1) != kind:
        return None
    return int(match.group(2))


def _error(message: str, nodes: Iterable[Any] = (), path: list | None = None,
           extensions: dict | None = None, locations: list | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message}
    if locations is None:
        locations = []
        for node in nodes:
            if node is not None and node.loc is not None:
                loc = node.loc.source.get_location(node.loc.start)
                locations.append({"line": loc.line, "column": loc.column})
    if locations:
        out["locations"] = locations
    if path is not None:
        out["path"] = path
    if extensions:
        out["extensions"] = extensions
    return out


