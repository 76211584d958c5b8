"""The correction plan as the push reads it: `marts.correction_plan` rows as `Action`s, the orders in scope
for the circuit breaker, and the readable plan (counts per target and action, before → after samples)
that a dry run prints.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shipshape import codes

PLAN_TABLE = "marts.correction_plan"
SCOPE_TABLE = "marts.fct_order_reconciliation"

# SPEC.md: refuse a plan larger than max(50, 5 %) of the orders in scope.
BREAKER_MIN_ACTIONS = 50
BREAKER_SHARE = 0.05


@dataclass(frozen=True)
class Action:
    action_id: str
    target_system: str
    target_object: str
    target_object_id: str
    action: str
    api_operation: str | None
    payload: dict[str, Any]
    before_state: dict[str, Any] | None
    mismatch_codes: tuple[str, ...]
    severity: str | None
    shopify_order_id: int | None
    order_name: str | None
    sku: str | None
    idempotency_key: str
    as_of: datetime | None = None

    @property
    def label(self) -> str:
        """How an operator finds the action: order name or SKU, then the action id."""
        subject = self.order_name or (f"SKU {self.sku}" if self.sku else None)
        return f"{subject} {self.action_id}" if subject else self.action_id


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = conn.execute("select column_name from information_schema.columns where table_schema = %s"
                        " and table_name = %s", (schema, name)).fetchall()
    return {r[0] for r in rows}


def read_plan(conn: psycopg.Connection, table: str = PLAN_TABLE) -> list[Action]:
    """Every row of the plan, ordered by severity then action id (high-severity fixes go first)."""
    columns = _columns(conn, table)
    if not columns:
        raise LookupError(f"{table} does not exist: run dbt (shipshape_reconcile) before push_corrections")
    before = "before_state" if "before_state" in columns else "null::jsonb as before_state"
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"select action_id, target_system, target_object, target_object_id, action, api_operation, payload,"
            f" {before}, mismatch_codes, severity, shopify_order_id, order_name, sku, idempotency_key, as_of"
            f" from {table}"
            " order by array_position(%(severities)s::text[], severity), action_id",
            {"severities": list(codes.SEVERITIES)},
        ).fetchall()
    return [
        Action(
            action_id=r["action_id"], target_system=r["target_system"], target_object=r["target_object"],
            target_object_id=r["target_object_id"], action=r["action"], api_operation=r["api_operation"],
            payload=r["payload"] or {}, before_state=r["before_state"], mismatch_codes=tuple(r["mismatch_codes"] or ()),
            severity=r["severity"], shopify_order_id=r["shopify_order_id"], order_name=r["order_name"], sku=r["sku"],
            idempotency_key=r["idempotency_key"], as_of=r["as_of"],
        )
        for r in rows
    ]


def orders_in_scope(conn: psycopg.Connection, table: str = SCOPE_TABLE) -> int:
    if not _columns(conn, table):
        return 0
    return int(conn.execute(f"select count(*) from {table}").fetchone()[0])


def breaker_limit(orders: int, *, minimum: int = BREAKER_MIN_ACTIONS, share: float = BREAKER_SHARE) -> int:
    """The most actions one push may apply: max(50, 5 % of the orders in scope)."""
    return max(minimum, math.ceil(orders * share))


# ------------------------------------------------------------------------------------ the readable plan
def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _after(action: Action) -> Any:
    """The part of the payload that is the new state (ids and bookkeeping left out)."""
    p = action.payload
    match action.action:
        case "order_update_shipping_address":
            return {"shipping_address": p.get("shipping_address")}
        case "order_update_line_items":
            return {"items": p.get("shopify_items")}
        case "order_update_shipping_lines":
            return p.get("shipping_lines")
        case "order_cancel":
            return {"fulfillment_status": "canceled", "reason": p.get("reason")}
        case "order_update_holds":
            return {"payment_hold": p.get("payment_hold")}
        case "tracker_add":
            return {"tracking_number": p.get("tracking_number"), "carrier": p.get("carrier")}
        case "charge_update_shipping":
            return {"tracking_numbers": p.get("tracking_numbers"), "carrier": p.get("carrier")}
        case "fulfillment_create":
            return {"fulfillment_status": "fulfilled", "tracking_info": p.get("tracking_info")}
        case "inventory_set_available":
            return {"available": p.get("quantity")}
        case "order_create":
            return {"partner_order_id": p.get("partner_order_id"), "order_number": p.get("order_number"),
                    "line_items": len(p.get("line_items") or [])}
    return p


def diff_line(action: Action) -> str:
    before = "(absent)" if action.before_state is None else _short(action.before_state)
    return (f"{action.target_system}.{action.action} {action.label} [{', '.join(action.mismatch_codes)}]: "
            f"{before} -> {_short(_after(action))}")


def describe(actions: Iterable[Action], *, sample: int = 3, title: str = "correction plan") -> str:
    """Counts per target and action, then up to `sample` before → after diffs of each action kind."""
    actions = list(actions)
    counts = Counter((a.target_system, a.action) for a in actions)
    lines = [f"{title}: {len(actions)} action(s)"]
    for (target, action), n in sorted(counts.items()):
        lines.append(f"  {target:<9} {action:<32} {n:>6}")
    shown: Counter = Counter()
    samples = []
    for a in actions:
        key = (a.target_system, a.action)
        if shown[key] < sample:
            shown[key] += 1
            samples.append("  " + diff_line(a))
    if samples:
        lines.append("sample of changes (before -> after):")
        lines.extend(samples)
    return "\n".join(lines)
