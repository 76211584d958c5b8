"""ShipHero's GraphQL objects rendered from the world's records: orders (with the fields the world does
not hold), line items, shipments, shipping labels, products and warehouse products, and the value
conversions they share (timestamps, money, legacy ids, addresses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.shiphero.pagination import _connection
from shipshape_sandbox.apis.shiphero.state import CANCELED, WAREHOUSE_IDENTIFIER, ShipHeroState
from shipshape_sandbox.world import (
    Address,
    ShipHeroLineItem,
    ShipHeroOrder,
    ShipHeroShipment,
    ShipHeroShippingLabel,
    ShipHeroWarehouseProduct,
    World,
    cents_to_str,
)


def _dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _money(value: Any, name: str) -> int:
    """A decimal string ("12.30") in cents; ShipHero money inputs are strings."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise GraphQLError(f"Invalid value for {name}: {value!r}") from None
    if not amount.is_finite():
        raise GraphQLError(f"Invalid value for {name}: {value!r}")
    return int((amount * 100).to_integral_value())


def _legacy_from_relay(relay: str) -> int:
    try:
        tail = base64.b64decode(relay, validate=True).decode().rsplit(":", 1)[1]
        return int(tail)
    except (binascii.Error, UnicodeDecodeError, IndexError, ValueError):
        return int.from_bytes(hashlib.blake2b(relay.encode(), digest_size=4).digest(), "big")


def _order_address(address: Address, email: str | None) -> dict[str, Any]:
    return {
        "first_name": address.first_name,
        "last_name": address.last_name,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.province,
        "state_code": address.province_code,
        "zip": address.zip,
        "country": address.country,
        "country_code": address.country_code,
        "email": email,
        "phone": address.phone,
    }


def _plain_address(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "state": address.province_code or address.province,
        "country": address.country_code,
        "zip": address.zip,
        "phone": address.phone,
    }


# Order fields the world's record does not hold: kept per order so a mutation's values read back.
ORDER_DEFAULTS: dict[str, Any] = {
    "total_tax": "0.00",
    "total_discounts": "0.00",
    "box_name": None,
    "ready_to_ship": None,
    "auto_print_return_label": False,
    "custom_invoice_url": None,
    "profile": "default",
    "gift_note": None,
    "packing_note": None,
    "required_ship_date": None,
    "billing_address": None,
    "tags": [],
    "flagged": False,
    "saturday_delivery": False,
    "ignore_address_validation_errors": False,
    "skip_address_validation": False,
    "priority_flag": False,
    "allocation_priority": 0,
    "gift_invoice": False,
    "allow_partial": False,
    "require_signature": False,
    "adult_signature_required": False,
    "alcohol": False,
    "expected_weight_in_oz": None,
    "insurance": False,
    "insurance_amount": "0.00",
    "has_dry_ice": False,
    "allow_split": False,
    "hold_until_date": None,
    "incoterms": None,
    "tax_id": None,
    "tax_type": None,
    "address_is_business": False,
}


def _store_extras(state: ShipHeroState, order_id: str, data: dict[str, Any]) -> None:
    extras = state.extras.setdefault(order_id, {})
    for name in ORDER_DEFAULTS:
        if name not in data:
            continue
        value = data[name]
        if value is None and name != "billing_address":
            continue  # a null leaves the field as it was; only the billing address can be cleared
        if name == "billing_address":
            value = None if value is None else {k: value.get(k) for k in _ADDRESS_KEYS}
        elif isinstance(value, datetime):
            value = _dt(value)
        elif isinstance(value, Decimal) or name in ("total_tax", "total_discounts", "insurance_amount"):
            value = cents_to_str(_money(value, name))
        extras[name] = value


_ADDRESS_KEYS = (
    "first_name", "last_name", "company", "address1", "address2", "city", "state", "state_code",
    "zip", "country", "country_code", "email", "phone",
)  # fmt: skip


def _line_item_node(order: ShipHeroOrder, li: ShipHeroLineItem, warehouse_id: str) -> dict[str, Any]:
    open_qty = 0 if order.fulfillment_status == CANCELED else max(0, li.quantity - li.quantity_shipped)
    return {
        "id": li.id,
        "legacy_id": li.legacy_id,
        "sku": li.sku,
        "partner_line_item_id": li.partner_line_item_id,
        "product_id": None,
        "quantity": li.quantity,
        "price": cents_to_str(li.price),
        "product_name": li.product_name,
        "option_title": None,
        "fulfillment_status": li.fulfillment_status,
        "quantity_pending_fulfillment": open_qty,
        "quantity_shipped": li.quantity_shipped,
        "warehouse": WAREHOUSE_IDENTIFIER,
        "quantity_allocated": open_qty,
        "backorder_quantity": 0,
        "custom_options": None,
        "custom_barcode": None,
        "eligible_for_return": False,
        "customs_value": None,
        "warehouse_id": warehouse_id,
        "locked_to_warehouse_id": None,
        "subtotal": cents_to_str(li.price * li.quantity),
        "barcode": None,
        "created_at": _dt(order.order_date),
        "updated_at": _dt(order.updated_at),
        "order_id": order.id,
        "promotion_discount": "0.00",
    }


def _order_node(state: ShipHeroState, order: ShipHeroOrder) -> dict[str, Any]:
    world = state.sandbox.world
    warehouse_id = world.shiphero_warehouse_id
    node: dict[str, Any] = dict(ORDER_DEFAULTS)
    node["tags"] = []
    node.update(state.extras.get(order.id, {}))
    node.update(
        {
            "id": order.id,
            "legacy_id": order.legacy_id,
            "order_number": order.order_number,
            "partner_order_id": order.partner_order_id,
            "shop_name": order.shop_name,
            "fulfillment_status": order.fulfillment_status,
            "order_date": _dt(order.order_date),
            "subtotal": cents_to_str(sum(li.price * li.quantity for li in order.line_items)),
            "total_price": cents_to_str(order.total_price),
            "account_id": state.account_id,
            "updated_at": _dt(order.updated_at),
            "email": order.email,
            "currency": order.currency,
            "source": "api",
            "shipping_lines": {
                "title": order.shipping_title,
                "carrier": order.shipping_carrier,
                "method": order.shipping_method,
                "price": cents_to_str(order.shipping_price),
            },
            "shipping_address": _order_address(order.shipping_address, order.email),
            "holds": {
                "fraud_hold": order.holds.fraud_hold,
                "address_hold": order.holds.address_hold,
                "shipping_method_hold": False,
                "operator_hold": order.holds.operator_hold,
                "payment_hold": order.holds.payment_hold,
                "client_hold": order.holds.client_hold,
            },
            "line_items": lambda _info, **args: _connection(
                state, order.line_items, args, lambda li: _line_item_node(order, li, warehouse_id), total=True
            ),
            "shipments": lambda _info: [_shipment_node(state, s) for s in _shipments_of(world, order.id)],
        }
    )
    return node


def _shipments_of(world: World, order_id: str) -> list[ShipHeroShipment]:
    index = getattr(world, "shipments_by_order", None)
    if index is not None:
        return list(index.get(order_id, ()))
    return [s for s in world.shiphero_shipments if s.order_id == order_id]


def _label_node(
    world: World, shipment: ShipHeroShipment, label: ShipHeroShippingLabel, account_id: str
) -> dict:
    order = world.shiphero_orders.get(shipment.order_id)
    return {
        "id": label.id,
        "legacy_id": label.legacy_id,
        "account_id": account_id,
        "shipment_id": shipment.id,
        "order_id": shipment.order_id,
        "order_number": order.order_number if order else None,
        "box_id": None,
        "box_name": None,
        "status": label.status,
        "tracking_number": label.tracking_number,
        "tracking_url": lifecycle.tracking_url(label.carrier, label.tracking_number),
        "carrier": label.carrier,
        "shipping_name": label.shipping_name,
        "shipping_method": label.shipping_method,
        "cost": cents_to_str(label.cost),
        "profile": "default",
        "partner_fulfillment_id": None,
        "full_size_to_print": None,
        "packing_slip": None,
        "warehouse": WAREHOUSE_IDENTIFIER,
        "warehouse_id": shipment.warehouse_id,
        "insurance_amount": "0.00",
        "carrier_account_id": None,
        "source": "shiphero",
        "created_date": _dt(label.created_date),
        "delivered": False,
        "picked_up": False,
        "refunded": False,
        "needs_refund": False,
        "address": _plain_address(order.shipping_address) if order else None,
    }


def _shipment_node(state: ShipHeroState, shipment: ShipHeroShipment) -> dict[str, Any]:
    world = state.sandbox.world
    order = world.shiphero_orders.get(shipment.order_id)
    first_label = shipment.labels[0].id if shipment.labels else None
    by_id = {li.id: li for li in order.line_items} if order else {}
    rows = [
        {
            "id": lifecycle.relay_id("ShipmentLineItem", shipment.legacy_id * 100 + i),
            "legacy_id": shipment.legacy_id * 100 + i,
            "line_item_id": li_id,
            "shipment_id": shipment.id,
            "shipping_label_id": first_label,
            "quantity": qty,
            "line_item": (
                _line_item_node(order, by_id[li_id], shipment.warehouse_id)
                if order and li_id in by_id
                else None
            ),
        }
        for i, (li_id, qty) in enumerate(shipment.line_items)
    ]
    return {
        "id": shipment.id,
        "legacy_id": shipment.legacy_id,
        "order_id": shipment.order_id,
        "user_id": None,
        "warehouse_id": shipment.warehouse_id,
        "pending_shipment_id": None,
        "address": _plain_address(order.shipping_address) if order else None,
        "profile": "default",
        "picked_up": False,
        "needs_refund": False,
        "refunded": False,
        "delivered": False,
        "shipped_off_shiphero": shipment.shipped_off_shiphero,
        "dropshipment": False,
        "completed": True,
        "created_date": _dt(shipment.created_date),
        "line_items": lambda _info, **args: _connection(state, rows, args, lambda row: row),
        "shipping_labels": [
            _label_node(world, shipment, label, state.account_id) for label in shipment.labels
        ],
        "order": lambda _info: _order_node(state, order) if order else None,
        "total_packages": len(shipment.labels),
    }


def _product_names(state: ShipHeroState) -> dict[str, str]:
    def compute() -> dict[str, str]:
        return {
            item.sku: f"{item.product_title} - {item.variant_title}"
            if item.variant_title
            else item.product_title
            for item in state.sandbox.world.shopify_inventory_items
        }

    return state.cached(("product-names",), compute)


def _warehouse_product_node(state: ShipHeroState, wp: ShipHeroWarehouseProduct) -> dict[str, Any]:
    return {
        "id": wp.id,
        "legacy_id": _legacy_from_relay(wp.id),
        "account_id": state.account_id,
        "sku": wp.sku,
        "warehouse_id": wp.warehouse_id,
        "warehouse_identifier": WAREHOUSE_IDENTIFIER,
        "price": "0.00",
        "value": "0.00",
        "value_currency": "USD",
        "on_hand": wp.on_hand,
        "inventory_bin": None,
        "inventory_overstock_bin": None,
        "reserve_inventory": wp.reserve,
        "replenishment_level": 0,
        "reorder_amount": 0,
        "reorder_level": 0,
        "backorder": wp.backorder,
        "allocated": wp.allocated,
        # ShipHero's `available` is on hand minus allocations; the reserve is only held back from what
        # it pushes to the sales channels (its schema says so), so it is not subtracted here.
        "available": wp.on_hand - wp.allocated,
        "non_sellable_quantity": 0,
        "in_tote": 0,
        "sell_ahead": 0,
        "custom": False,
        "customs_value": None,
        "active": True,
        "created_at": None,
        "updated_at": _dt(wp.updated_at),
        "product": lambda _info: _product_node(state, wp),
    }


def _product_node(state: ShipHeroState, wp: ShipHeroWarehouseProduct) -> dict[str, Any]:
    legacy = _legacy_from_relay(wp.id)
    return {
        "id": lifecycle.relay_id("Product", legacy),
        "legacy_id": legacy,
        "account_id": state.account_id,
        "name": _product_names(state).get(wp.sku, wp.sku),
        "sku": wp.sku,
        "barcode": None,
        "country_of_manufacture": None,
        "tariff_code": None,
        "kit": False,
        "kit_build": False,
        "no_air": False,
        "final_sale": False,
        "customs_value": None,
        "customs_description": None,
        "not_owned": False,
        "dropship": False,
        "needs_serial_number": False,
        "needs_lot_tracking": False,
        "virtual": False,
        "thumbnail": None,
        "large_thumbnail": None,
        "product_note": None,
        "packer_note": None,
        "tags": [],
        "created_at": None,
        "updated_at": _dt(wp.updated_at),
        "warehouse_products": lambda _info: [_warehouse_product_node(state, wp)],
    }
