"""The reconciliation marts against the sandbox's ground truth, order by order.

For a seeded sandbox world (800 orders, two seeds) the raw tables are filled through the real extraction
code (`dump_raw`, the same `run_stream` the ingest DAG calls), dbt builds everything (seeds, staging,
intermediate, marts, their data tests and unit tests) as of the world clock, and then:

* `marts.fct_order_reconciliation.mismatch_codes` must equal `compute_truth(world)`'s codes for every
  order (precision and recall per code are printed, and every disagreement is listed);
* the orders' `payment_status` must equal truth.py's `payment_status` over its links;
* `fct_payment_reconciliation.orphan_payment` must flag exactly the truth's orphan payments;
* `fct_inventory_reconciliation.inventory_mismatch` must flag exactly the truth's SKUs;
* rebuilding the marts at the same as-of gives identical tables.

**PayPal's publishing lag.** Transaction Search publishes a transaction three hours after it happened
(`PUBLISH_LAG`; PayPal: "it takes a maximum of three hours for executed transactions to appear"), and by
default lists only balance-affecting records, so a denied capture never appears. Every other API shows
the world as of its clock. So at the world clock the warehouse lacks exactly: the PayPal captures and
refunds created in the last three hours, and the denied PayPal captures. The truth is therefore judged
on the world as the extraction could see it: after dumping, those PayPal records are removed from the
world (`drop_unpublished_paypal`) and `compute_truth` runs on what is left, at the same clock dbt judges
with (`as_of` = world clock). The other options are worse: advancing the world three hours before
dumping does not help (the events in those hours make new captures and refunds, which lag in turn), and
switching the lag off would test an extraction that production never runs.

The marts then wait where the lag makes the warehouse's PayPal side incomplete (dbt var
`paypal_publish_lag_hours`, column `paypal_publication_pending`): for an order with a PayPal movement in
Shopify less than three hours old, UNPAID_NOT_HELD, SHIPPED_UNPAID, AMOUNT_MISMATCH and PAYMENT_MISSING
are not raised yet, because acting on them (a payment hold) would be acting on a payment the warehouse
cannot see yet. So those codes are taken out of the expected codes of exactly those orders, and the test
checks against the whole world (nothing dropped) that none of those orders is unpaid in truth there.

The ground truth judges times at full precision while the APIs render them to the second; the rules
compare times only with margins of minutes or hours, so this never matters for these seeds.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape.sandbox.apis.paypal import CAPTURE_STATUS_CODES, PUBLISH_LAG
from shipshape.sandbox.dump import dump_raw
from shipshape.sandbox.generate import build_world
from shipshape.sandbox.truth import ORDER_CODES, compute_truth, link, payment_status
from shipshape.sandbox.world import World

pytestmark = pytest.mark.integration

ORDERS = 800
SEEDS = (11, 2026)


def drop_unpublished_paypal(world: World) -> tuple[int, int]:
    """Remove the PayPal captures and refunds Transaction Search does not list at the world clock.

    Those are the ones created after `clock - PUBLISH_LAG` (the publishing lag) and the denied captures
    (status code D: not balance-affecting). Returns (captures, refunds) removed.
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


# The codes that read "no PayPal payment (yet)" and wait out the publishing lag.
WAITING_CODES = {"UNPAID_NOT_HELD", "SHIPPED_UNPAID", "AMOUNT_MISMATCH", "PAYMENT_MISSING"}


def paypal_publication_pending(world: World) -> set[int]:
    """Orders with a successful PayPal sale, capture or refund in Shopify less than PUBLISH_LAG old."""
    horizon = world.clock - PUBLISH_LAG
    return {
        order.id for order in world.shopify_orders
        if any(t.gateway == "paypal" and t.status == "SUCCESS" and t.kind in ("SALE", "CAPTURE", "REFUND")
               and t.created_at > horizon for t in order.transactions)
    }


def score(expected: dict[int, set[str]], actual: dict[int, set[str]]) -> tuple[str, list[str]]:
    """A precision/recall table per code, and one line per order whose codes differ."""
    counts: Counter[tuple[str, str]] = Counter()
    for order_id, codes in expected.items():
        got = actual.get(order_id, set())
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
    differences = [
        f"order {order_id}: truth {sorted(codes)}, mart {sorted(actual.get(order_id, set()))}"
        for order_id, codes in expected.items()
        if codes != actual.get(order_id, set())
    ]
    differences += [f"order {order_id}: not in the truth" for order_id in actual.keys() - expected.keys()]
    return "\n".join(lines), differences


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


MARTS = ("fct_order_reconciliation", "fct_payment_reconciliation", "fct_inventory_reconciliation")


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of every mart's rows."""
    return {
        mart: query(url, f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), ''))"
                         f" from marts.{mart} as t")[0]
        for mart in MARTS
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_marts_agree_with_the_truth(seed: int, fresh_database: str, tmp_path) -> None:
    world = build_world(ORDERS, seed=seed)
    warehouse.bootstrap(fresh_database)
    dump_raw(world, fresh_database)
    pending = paypal_publication_pending(world)
    paid_in_truth = {o["order_id"]: o["codes"] for o in compute_truth(world)["orders"] if o["order_id"] in pending}
    hidden = drop_unpublished_paypal(world)

    as_of: datetime = world.clock
    result = dbt.run(["build"], url=fresh_database, as_of=as_of, target_path=tmp_path / "target",
                     log_path=tmp_path / "logs", echo=False)
    assert result.success, result.not_passed() or result.output[-3000:]

    truth = compute_truth(world)
    assert truth["as_of"] == as_of.isoformat().replace("+00:00", "Z")
    expected = {o["order_id"]: set(o["codes"]) - (WAITING_CODES if o["order_id"] in pending else set())
                for o in truth["orders"]}
    # with every PayPal record visible, the waiting orders are not unpaid: waiting was right
    assert not any({"UNPAID_NOT_HELD", "PAYMENT_MISSING", "SHIPPED_UNPAID"} & set(codes)
                   for codes in paid_in_truth.values()), paid_in_truth
    marts = query(fresh_database, "select shopify_order_id, mismatch_codes, payment_status, as_of"
                                  " from marts.fct_order_reconciliation")
    actual = {row[0]: set(row[1]) for row in marts}
    assert {row[3] for row in marts} == {as_of}

    table, differences = score(expected, actual)
    print(f"\nseed {seed}: {len(expected)} orders, {sum(map(len, expected.values()))} codes in the truth;"
          f" PayPal captures/refunds not yet published: {hidden}; orders waiting for them: {len(pending)}\n{table}")
    assert len(actual) == len(expected), "one row per Shopify order"
    assert not differences, "\n".join(differences)
    assert sum(map(len, expected.values())) > 20, "the world should carry mismatches to compare"

    links = link(world)
    tolerance = world.settings["amount_tolerance_cents"]
    expected_status = {
        order.id: payment_status(links.payments_by_order.get(order.id, []), tolerance)
        for order in world.shopify_orders
    }
    actual_status = {row[0]: row[2] for row in marts}
    status_differences = {k: (v, actual_status.get(k)) for k, v in expected_status.items() if actual_status.get(k) != v}
    assert not status_differences, f"payment_status (truth, mart): {status_differences}"

    expected_orphans = {(p["gateway"], p["payment_id"]) for p in truth["orphan_payments"]}
    actual_orphans = set(query(fresh_database, "select gateway, payment_id from marts.fct_payment_reconciliation"
                                               " where orphan_payment"))
    print(f"orphan payments: truth {len(expected_orphans)}, mart {len(actual_orphans)}")
    assert actual_orphans == expected_orphans

    expected_skus = {(i["sku"], i["shopify_available"], i["shiphero_available"]) for i in truth["inventory_mismatches"]}
    actual_skus = set(query(fresh_database, "select sku, shopify_available, shiphero_available"
                                            " from marts.fct_inventory_reconciliation where inventory_mismatch"))
    print(f"inventory mismatches: truth {len(expected_skus)}, mart {len(actual_skus)}")
    assert actual_skus == expected_skus
    assert expected_skus, "the world should carry inventory mismatches"

    before = fingerprint(fresh_database)
    rerun = dbt.run(["run", "--select", "marts"], url=fresh_database, as_of=as_of,
                    target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)
    assert rerun.success, rerun.not_passed() or rerun.output[-3000:]
    assert fingerprint(fresh_database) == before, "a rerun at the same as-of changes nothing"
