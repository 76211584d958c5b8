"""The raw rows of the Shopify streams: which field is the id, which the update time, and the checks a
record must pass to be loaded (anything else goes to `raw._quarantine` with the field and the reason).

| stream | table | source_id | source_updated_at |
|---|---|---|---|
| orders | raw.shopify__orders | `id` (`gid://shopify/Order/…`) | `updatedAt` |
| inventory_items | raw.shopify__inventory_items | `id` (`gid://shopify/InventoryItem/…`) | `updatedAt` |

Shopify bumps an order's `updatedAt` on every change to it (edits, cancellation, fulfillments, transactions),
so a newer version never has an earlier `updatedAt`: staging can take the latest version by it. Payloads
are kept exactly as the API shaped them (nested connections as `{"nodes": [...]}`, see `pagination`).
"""

from __future__ import annotations

import math
from typing import Any

from shipshape.ingest.records import (
    ISO_CURRENCIES,
    RawRecord,
    RecordError,
    check_amount,
    check_currency,
    parse_timestamp,
    require_id,
)
from shipshape.sources.shopify.queries import gid_type

ORDER_MONEY = ("totalPriceSet", "currentTotalPriceSet", "subtotalPriceSet", "currentSubtotalPriceSet",
               "totalReceivedSet", "totalRefundedSet")


def order_row(record: dict[str, Any]) -> RawRecord:
    source_id = _gid(record, "id", "Order")
    updated_at = parse_timestamp(record.get("updatedAt"), "updatedAt")
    parse_timestamp(record.get("createdAt"), "createdAt")
    for name in ("processedAt", "cancelledAt", "closedAt"):
        parse_timestamp(record.get(name), name, required=False)
    if record.get("currencyCode") is None:
        raise RecordError("currencyCode", "missing currency")
    check_currency(record, "currencyCode")
    for name in ORDER_MONEY:
        _money(record, name)
    _money(record, "shippingLine.originalPriceSet")
    # Nested checks name the failing field by its path from the top (`lineItems.nodes[2].quantity`).
    for i, item in enumerate(_nodes(record, "lineItems")):
        try:
            require_id(item, "id")
            _count(item, "quantity")
            _count(item, "currentQuantity")
            _money(item, "originalUnitPriceSet")
        except RecordError as exc:
            raise _under(f"lineItems.nodes[{i}]", exc) from None
    for i, fulfillment in enumerate(_list(record, "fulfillments")):
        try:
            require_id(fulfillment, "id")
            parse_timestamp(fulfillment.get("createdAt"), "createdAt", required=False)
            parse_timestamp(fulfillment.get("updatedAt"), "updatedAt", required=False)
            for j, line in enumerate(_nodes(fulfillment, "fulfillmentLineItems")):
                try:
                    _count(line, "quantity")
                except RecordError as exc:
                    raise _under(f"fulfillmentLineItems.nodes[{j}]", exc) from None
        except RecordError as exc:
            raise _under(f"fulfillments[{i}]", exc) from None
    for i, transaction in enumerate(_list(record, "transactions")):
        try:
            require_id(transaction, "id")
            _money(transaction, "amountSet")
            parse_timestamp(transaction.get("createdAt"), "createdAt", required=False)
        except RecordError as exc:
            raise _under(f"transactions[{i}]", exc) from None
    return RawRecord(source_id, updated_at, record)


def inventory_item_row(record: dict[str, Any]) -> RawRecord:
    source_id = _gid(record, "id", "InventoryItem")
    updated_at = parse_timestamp(record.get("updatedAt"), "updatedAt")
    for i, level in enumerate(_nodes(record, "inventoryLevels")):
        try:
            require_id(level, "id")
            require_id(level, "location.id")
            for j, quantity in enumerate(_list(level, "quantities")):
                value = quantity.get("quantity")
                # Available may be negative (an oversold item), so only the type is checked.
                if not isinstance(value, int) or isinstance(value, bool):
                    raise RecordError(f"quantities[{j}].quantity", f"not an integer: {value!r}")
        except RecordError as exc:
            raise _under(f"inventoryLevels.nodes[{i}]", exc) from None
    return RawRecord(source_id, updated_at, record)


# ------------------------------------------------------------------------------------------ helpers
def _gid(record: dict[str, Any], path: str, kind: str) -> str:
    value = require_id(record, path)
    if gid_type(value) != kind:
        raise RecordError(path, f"not a Shopify {kind} id: {value!r}")
    return value


def _money(record: dict[str, Any], path: str) -> None:
    """A MoneyBag's shop money: a non-negative decimal in an ISO currency.

    Tens of these per order: the common case (a plain decimal string, a known currency) is settled with a
    float parse and a set lookup; anything else goes to the shared checks, which word the error.
    """
    bag: Any = record
    for key in path.split("."):
        bag = bag.get(key) if isinstance(bag, dict) else None
    shop = bag.get("shopMoney") if isinstance(bag, dict) else None
    if isinstance(shop, dict):
        amount, currency = shop.get("amount"), shop.get("currencyCode")
        if isinstance(amount, str) and currency in ISO_CURRENCIES:
            try:
                value = float(amount)
            except ValueError:
                value = -1.0
            if 0.0 <= value < math.inf:
                return
    check_amount(record, f"{path}.shopMoney.amount")
    check_currency(record, f"{path}.shopMoney.currencyCode")


def _count(record: dict[str, Any], key: str) -> None:
    value = record.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RecordError(key, f"not a count: {value!r}")


def _nodes(record: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = record.get(key)
    nodes = value.get("nodes") if isinstance(value, dict) else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _list(record: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = record.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _under(prefix: str, exc: RecordError) -> RecordError:
    return RecordError(f"{prefix}.{exc.field}", exc.reason)
