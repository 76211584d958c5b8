"""Judge the warehouse's reconciliation marts against the sandbox's ground truth, order by order.

The truth (`truth.compute_truth`) sees every record of the world; the warehouse sees what the APIs
served. They differ in one documented way, PayPal's publishing lag: Transaction Search lists a
transaction `PUBLISH_LAG` (3 h) after it happened, and never lists a denied capture. So the comparison:

1. notes the orders the marts wait on (`paypal_publication_pending`: a successful PayPal sale, capture
   or refund in Shopify younger than the lag; dbt var `paypal_publish_lag_hours`), and checks on the
   whole world that waiting was right (none of them is unpaid in truth);
2. removes from the world the PayPal records the extraction could not see (`drop_unpublished_paypal`)
   and computes the truth on what is left, at the same as-of the marts were built with;
3. takes the waiting codes out of the waiting orders' expected codes.

Advancing the world three hours before extracting would not avoid step 2 (the events in those hours
make new captures and refunds, which lag in turn); switching the lag off would test an extraction that
production never runs. `compare` mutates the world (step 2): call it once the sandbox has stopped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from shipshape_sandbox.apis.paypal import CAPTURE_STATUS_CODES, PUBLISH_LAG
from shipshape_sandbox.truth import ORDER_CODES, compute_truth, link, payment_status
from shipshape_sandbox.world import World

# The codes that read "no PayPal payment (yet)" and wait out the publishing lag.
WAITING_CODES = frozenset({"UNPAID_NOT_HELD", "SHIPPED_UNPAID", "AMOUNT_MISMATCH", "PAYMENT_MISSING"})


def paypal_publication_pending(world: World) -> set[int]:
    """Orders with a successful PayPal sale, capture or refund in Shopify less than PUBLISH_LAG old."""
    horizon = world.clock - PUBLISH_LAG
    return {
        order.id for order in world.shopify_orders
        if any(t.gateway == "paypal" and t.status == "SUCCESS" and t.kind in ("SALE", "CAPTURE", "REFUND")
               and t.created_at > horizon for t in order.transactions)
    }


def drop_unpublished_paypal(world: World) -> tuple[int, int]:
    """Remove the PayPal captures and refunds Transaction Search does not list at the world clock.

    Those are the ones created after `clock - PUBLISH_LAG` and the denied captures (status code D: not
    balance-affecting). Returns (captures, refunds) removed.
    """
    horizon = world.clock - PUBLISH_LAG
    refunds = [r.id for r in world.paypal_refunds if r.create_time > horizon]
    captures = [
        c.id for c in world.paypal_captures
        if c.create_time > horizon or CAPTURE_STATUS_CODES.get(c.status) == "D"
    ]
    for refund_id in refunds:
        world.paypal_refunds.remove(refund_id)
    for capture_id in captures:
        world.paypal_captures.remove(capture_id)
    return len(captures), len(refunds)


@dataclass
class Comparison:
    """Expected (truth) and actual (marts) per grain, and what was set aside for the publishing lag."""

    expected_codes: dict[int, set[str]]
    actual_codes: dict[int, set[str]]
    expected_status: dict[int, str]
    actual_status: dict[int, str]
    expected_orphans: set[tuple[str, str]]
    actual_orphans: set[tuple[str, str]]
    expected_skus: set[tuple[str, int, int]]
    actual_skus: set[tuple[str, int, int]]
    as_of_values: set[Any]
    hidden_paypal: tuple[int, int]
    waiting_orders: set[int]
    wrongly_waiting: dict[int, list[str]] = field(default_factory=dict)

    def code_differences(self) -> list[str]:
        """One line per order whose codes differ (and per order only one side has)."""
        lines = [
            f"order {order_id}: truth {sorted(codes)}, mart {sorted(self.actual_codes.get(order_id, set()))}"
            for order_id, codes in self.expected_codes.items()
            if codes != self.actual_codes.get(order_id, set())
        ]
        lines += [f"order {order_id}: not in the truth" for order_id in self.actual_codes.keys() - self.expected_codes.keys()]
        return lines

    def status_differences(self) -> dict[int, tuple[str, str | None]]:
        return {k: (v, self.actual_status.get(k)) for k, v in self.expected_status.items()
                if self.actual_status.get(k) != v}

    def precision_recall(self) -> str:
        """A table per code: truth count, mart count, precision, recall."""
        counts: Counter[tuple[str, str]] = Counter()
        for order_id, codes in self.expected_codes.items():
            got = self.actual_codes.get(order_id, set())
            for code in ORDER_CODES:
                if code in codes and code in got:
                    counts[code, "tp"] += 1
                elif code in codes:
                    counts[code, "fn"] += 1
                elif code in got:
                    counts[code, "fp"] += 1
        lines = [f"{'code':<28} {'truth':>5} {'mart':>5} {'precision':>9} {'recall':>6}"]
        for code in ORDER_CODES:
            tp, fp, fn = counts[code, "tp"], counts[code, "fp"], counts[code, "fn"]
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            lines.append(f"{code:<28} {tp + fn:>5} {tp + fp:>5} {precision:>9.3f} {recall:>6.3f}")
        return "\n".join(lines)

    def report(self) -> str:
        return (f"{len(self.expected_codes)} orders, {sum(map(len, self.expected_codes.values()))} codes in the "
                f"truth; PayPal captures/refunds not yet published: {self.hidden_paypal}; orders waiting for "
                f"them: {len(self.waiting_orders)}\n{self.precision_recall()}\n"
                f"orphan payments: truth {len(self.expected_orphans)}, mart {len(self.actual_orphans)}\n"
                f"inventory mismatches: truth {len(self.expected_skus)}, mart {len(self.actual_skus)}")

    def problems(self, as_of: Any) -> list[str]:
        """Every way the marts (built as of `as_of`) disagree with the truth; empty when they agree."""
        found = []
        if self.as_of_values != {as_of}:
            found.append(f"marts judged as of {sorted(map(str, self.as_of_values))}, not {as_of}")
        if len(self.actual_codes) != len(self.expected_codes):
            found.append(f"{len(self.actual_codes)} reconciled rows for {len(self.expected_codes)} Shopify orders")
        if self.wrongly_waiting:
            found.append(f"orders the marts wait on that are unpaid in truth: {self.wrongly_waiting}")
        found += self.code_differences()
        found += [f"order {k}: payment_status truth {v[0]}, mart {v[1]}" for k, v in self.status_differences().items()]
        if self.actual_orphans != self.expected_orphans:
            found.append(f"orphan payments: truth only {sorted(self.expected_orphans - self.actual_orphans)}, "
                         f"mart only {sorted(self.actual_orphans - self.expected_orphans)}")
        if self.actual_skus != self.expected_skus:
            found.append(f"inventory: truth only {sorted(self.expected_skus - self.actual_skus)}, "
                         f"mart only {sorted(self.actual_skus - self.expected_skus)}")
        return found


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def compare(world: World, url: str) -> Comparison:
    """The marts in `url` (built as of `world.clock`) against the truth of what extraction could see."""
    waiting = paypal_publication_pending(world)
    whole = {o["order_id"]: o["codes"] for o in compute_truth(world)["orders"] if o["order_id"] in waiting}
    wrongly_waiting = {k: v for k, v in whole.items()
                       if {"UNPAID_NOT_HELD", "PAYMENT_MISSING", "SHIPPED_UNPAID"} & set(v)}
    hidden = drop_unpublished_paypal(world)
    truth = compute_truth(world)
    orders = _rows(url, "select shopify_order_id, mismatch_codes, payment_status, as_of"
                        " from marts.fct_order_reconciliation")
    links = link(world)
    tolerance = world.settings["amount_tolerance_cents"]
    return Comparison(
        expected_codes={o["order_id"]: set(o["codes"]) - (WAITING_CODES if o["order_id"] in waiting else set())
                        for o in truth["orders"]},
        actual_codes={row[0]: set(row[1]) for row in orders},
        expected_status={order.id: payment_status(links.payments_by_order.get(order.id, []), tolerance)
                         for order in world.shopify_orders},
        actual_status={row[0]: row[2] for row in orders},
        expected_orphans={(p["gateway"], p["payment_id"]) for p in truth["orphan_payments"]},
        actual_orphans=set(_rows(url, "select gateway, payment_id from marts.fct_payment_reconciliation"
                                      " where orphan_payment")),
        expected_skus={(i["sku"], i["shopify_available"], i["shiphero_available"])
                       for i in truth["inventory_mismatches"]},
        actual_skus=set(_rows(url, "select sku, shopify_available, shiphero_available"
                                   " from marts.fct_inventory_reconciliation where inventory_mismatch")),
        as_of_values={row[3] for row in orders},
        hidden_paypal=hidden,
        waiting_orders=waiting,
        wrongly_waiting=wrongly_waiting,
    )
