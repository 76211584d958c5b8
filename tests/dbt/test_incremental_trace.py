"""One Stripe refund followed through an incremental run: the trace docs/incremental.md tells.

A seeded world (40 orders) is dumped, and seeded and run at its clock. Then one refund of a Stripe charge that was
never refunded lands in `raw.stripe__refunds` (one row, as ingest writes it, dated before the as-of), and
dbt runs again at the same as-of in two steps, so the change log can be read between them: first
`stg_stripe__refunds` alone (it restages the one refund and logs its keys), then the rest (which consumes
the log). Each step's keys are asserted, and printed (`pytest -s`) for the document; finally the data tests
of the changed models read the recomputed rows only.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from dbt_helpers import dbt_kwargs, dumped_world

from shipshape import dbt

pytestmark = pytest.mark.integration

REFUND_ID = "re_trace_1"


def _scopes(conn: psycopg.Connection) -> dict[str, list[str] | None]:
    """What each model's last run recomputed (None: everything), from ops.dbt_model_scope."""
    rows = conn.execute("select model, array_agg(key order by key) filter (where key is not null),"
                        " bool_or(key is null) from ops.dbt_model_scope group by model").fetchall()
    return {model: None if everything else (keys or []) for model, keys, everything in rows}


def _not_null_reads(url: str, result: dbt.DbtResult, model: str) -> dict[str, int]:
    """How many rows each not_null test of `model` compiled by `result` reads (its dbt_subquery, counted now)."""
    counts = {}
    with psycopg.connect(url) as conn:
        for compiled in sorted((result.target_path / "compiled").rglob(f"not_null_{model}_*.sql")):
            subquery = re.search(r"from \((select \* from .*?)\) dbt_subquery", compiled.read_text(), re.S)
            assert subquery, f"{compiled.name} reads its whole table"
            counts[compiled.stem] = conn.execute(f"select count(*) from ({subquery[1]}) as t").fetchone()[0]
    return counts


def test_a_stripe_refund_recomputes_its_payment_and_order_only(fresh_database: str, tmp_path) -> None:
    url = fresh_database
    world = dumped_world(url, 40, seed=11)
    kwargs = dbt_kwargs(url, tmp_path)
    as_of = world.clock

    def run(*args: str) -> dbt.DbtResult:
        result = dbt.run(list(args), as_of=as_of, **kwargs)
        assert result.success, result.not_passed() or result.output[-3000:]
        return result

    run("seed")
    run("run")
    with psycopg.connect(url) as conn:
        charge_id, intent_id, amount, currency, order_id = conn.execute(
            "select charges.charge_id, charges.payment_intent_id, charges.amount, charges.currency,"
            " links.shopify_order_id"
            " from staging.stg_stripe__charges as charges"
            " inner join intermediate.int_payment_links as links"
            "   on links.gateway = 'stripe' and links.payment_id = charges.payment_intent_id"
            " where charges.status = 'succeeded' and charges.amount > 1 and links.shopify_order_id is not null"
            "   and charges.currency in ('USD', 'EUR', 'GBP', 'CAD', 'AUD')"
            "   and not exists (select from staging.stg_stripe__refunds as refunds"
            "                   where refunds.charge_id = charges.charge_id)"
            " order by links.shopify_order_id limit 1").fetchone()
        before = conn.execute(
            "select gateway_refunded_amount, mismatch_codes from intermediate.int_order_reconciliation"
            " where shopify_order_id = %s", (order_id,)).fetchone()
        orders = conn.execute("select count(*) from intermediate.int_order_reconciliation").fetchone()[0]
        # half the charge back, in minor units (cents), as Stripe's API gives it
        refund = {"id": REFUND_ID, "object": "refund", "amount": int(amount * 100) // 2, "charge": charge_id,
                  "payment_intent": intent_id, "currency": currency.lower(), "status": "succeeded",
                  "reason": "requested_by_customer", "created": int((as_of - timedelta(minutes=10)).timestamp())}
        conn.execute(
            "insert into raw.stripe__refunds"
            " (source_id, source_updated_at, payload, payload_hash, extracted_at, run_id)"
            " values (%s, %s, %s::jsonb, md5(%s::jsonb::text), clock_timestamp(), 'trace')",
            (REFUND_ID, as_of - timedelta(minutes=10), json.dumps(refund), json.dumps(refund)))
    print(f"\nrefund {REFUND_ID}: {refund['amount']} minor units of charge {charge_id}"
          f" (PaymentIntent {intent_id}, Shopify order {order_id}, {orders} orders);"
          f" before: refunded {before[0]}, codes {before[1]}")

    # 1. staging: the one refund is restaged, and the keys of its rows are logged; the model's data tests
    # (a build runs them right after it) read that row only
    staging = run("build", "--select", "stg_stripe__refunds")
    staging_tested = _not_null_reads(url, staging, "stg_stripe__refunds")
    with psycopg.connect(url) as conn:
        staged = _scopes(conn)["stg_stripe__refunds"]
        logged = set(conn.execute("select grain, key from ops.dbt_changed_keys").fetchall())
    print(f"ops.dbt_model_scope[stg_stripe__refunds] = {staged}\nops.dbt_changed_keys = {sorted(logged)}")
    assert staged == [REFUND_ID]
    assert logged == {("stripe_charge", charge_id), ("payment", f"stripe:{intent_id}")}
    print(f"rows the not_null tests of stg_stripe__refunds read: {staging_tested}")
    assert staging_tested and set(staging_tested.values()) == {1}, staging_tested

    # 2. the rest: int_reconcile_changes turns the log into one batch, each intermediate table recomputes
    # the keys of its grain in it
    run("run")
    with psycopg.connect(url) as conn:
        batch = set(conn.execute(
            "select grain, entity_key from intermediate.int_reconcile_changes"
            " where batch = (select max(batch) from intermediate.int_reconcile_changes)").fetchall())
        scopes = _scopes(conn)
        log_left = conn.execute("select count(*) from ops.dbt_changed_keys").fetchone()[0]
        after = conn.execute(
            "select gateway_refunded_amount, mismatch_codes from intermediate.int_order_reconciliation"
            " where shopify_order_id = %s", (order_id,)).fetchone()
    recomputing = {model: keys for model, keys in scopes.items() if keys != []}
    print(f"int_reconcile_changes (last batch) = {sorted(batch)}\nrecomputed = {recomputing}"
          f"\nafter: refunded {after[0]}, codes {after[1]}")
    assert batch == {("payment", f"stripe:{intent_id}"), ("shopify_order", str(order_id))}
    assert log_left == 0, "int_reconcile_changes consumed the log"
    payment_models = {"int_payments", "int_payment_links", "int_payment_refunds"}
    assert {m: recomputing.get(m) for m in payment_models} == dict.fromkeys(payment_models, [f"stripe:{intent_id}"])
    order_models = {m for m, keys in recomputing.items() if keys == [str(order_id)]}
    assert {"int_order_payment_status", "int_order_facts", "int_order_reconciliation"} <= order_models
    assert set(recomputing) == payment_models | order_models, recomputing
    assert after[0] == before[0] + Decimal(refund["amount"]) / 100

    # 3. the data tests of the changed models read the recomputed rows only
    tests = run("test", "--select", "int_order_reconciliation", "int_payments")
    tested = {**_not_null_reads(url, tests, "int_order_reconciliation"), **_not_null_reads(url, tests, "int_payments")}
    print(f"rows the not_null tests read: {tested}")
    assert tested and set(tested.values()) == {1}, tested
