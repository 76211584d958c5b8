"""The raw rows of ShipHero's streams: which field is the id, which orders versions, what must hold.

- orders: id = the order's Relay id; versions ordered by `updated_at` (ShipHero stamps every change to
  the order, its line items, holds and status). Money is decimal strings; `currency` an ISO code.
- shipments: id = the shipment's Relay id; a shipment has no update time in ShipHero's schema, so its
  `created_date` orders versions (a later re-read of a changed shipment ties, and staging then takes the
  later extraction).
- inventory: id = the warehouse product's Relay id (one per SKU and warehouse); versions by `updated_at`.
  ShipHero's `available` is on hand minus allocated and does not subtract `reserve_inventory`; the
  payload keeps every quantity so staging can compute what SPEC.md calls available.
"""

from __future__ import annotations

from typing import Any

from shipshape.ingest.records import (
    RawRecord,
    RecordError,
    check_amount,
    check_currency,
    parse_timestamp,
    require_id,
)


def _edges(record: dict[str, Any], path: str) -> list[dict[str, Any]]:
    connection = record.get(path)
    if connection is None:
        return []
    if not isinstance(connection, dict) or not isinstance(connection.get("edges"), list):
        raise RecordError(path, "not a connection with edges")
    return [edge.get("node") or {} for edge in connection["edges"] if isinstance(edge, dict)]


def order_row(record: dict[str, Any]) -> RawRecord:
    source_id = require_id(record, "id")
    updated_at = parse_timestamp(record.get("updated_at"), "updated_at")
    parse_timestamp(record.get("order_date"), "order_date", required=False)
    for path in ("total_price", "subtotal", "total_tax", "total_discounts", "shipping_lines.price"):
        check_amount(record, path)
    check_currency(record, "currency")
    for i, line in enumerate(_edges(record, "line_items")):
        if line.get("id") in (None, ""):
            raise RecordError(f"line_items[{i}].id", "missing id")
        check_amount(line, "price")
        for path in ("quantity", "quantity_shipped"):
            check_amount(line, path)
    return RawRecord(source_id, updated_at, record)


def shipment_row(record: dict[str, Any]) -> RawRecord:
    source_id = require_id(record, "id")
    created = parse_timestamp(record.get("created_date"), "created_date")
    labels = record.get("shipping_labels") or []
    if not isinstance(labels, list):
        raise RecordError("shipping_labels", "not a list")
    for i, label in enumerate(labels):
        if not isinstance(label, dict):
            raise RecordError(f"shipping_labels[{i}]", "not an object")
        check_amount(label, "cost")
    for i, line in enumerate(_edges(record, "line_items")):
        if line.get("id") in (None, ""):
            raise RecordError(f"line_items[{i}].id", "missing id")
        check_amount(line, "quantity")
    return RawRecord(source_id, created, record)


def warehouse_product_row(record: dict[str, Any]) -> RawRecord:
    source_id = require_id(record, "id")
    updated_at = parse_timestamp(record.get("updated_at"), "updated_at")
    if not isinstance(record.get("sku"), str) or not record["sku"]:
        raise RecordError("sku", "missing sku")
    # Stock counts may legitimately go negative in a WMS (oversold on hand); only prices must not.
    for path in ("price", "value"):
        check_amount(record, path)
    return RawRecord(source_id, updated_at, record)
