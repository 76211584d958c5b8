"""Incremental runs give exactly what a full refresh gives, at every as-of.

A seeded world (600 orders) is dumped through the real extraction and built at its clock. Then the world
moves on three hours (new orders, captures, refunds, shipments, tracker updates), only the new versions are
extracted (the streams' cursors, a later window: what the hourly ingest lands), and dbt runs
incrementally at the new clock: every staging and intermediate table and every mart that depends only on
raw and as-of must equal, row for row, what `dbt run --full-refresh` builds at the same as-of. The same
holds for a rerun at the same as-of (one whose bookkeeping must first move from staging to ops, as on a
warehouse built before it lived there), for a backfill (an incremental run at the earlier clock, with the
newer versions already in raw), for a run after one that left a model behind, after records are deleted
from raw by hand, and after a tolerance changes.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from dbt_helpers import dbt_kwargs, dumped_world, recomputed

from shipshape import dbt, warehouse
from shipshape_sandbox import lifecycle
from shipshape_sandbox.dump import dump_raw

pytestmark = pytest.mark.integration

# the incremental models' bookkeeping (dbt_project/macros/incremental_staging.sql), in ops
BOOKKEEPING = ("dbt_incremental_state", "dbt_model_scope", "dbt_changed_keys")

# mismatch_history keeps the history of the runs (a full refresh restarts it by design), and
# mismatch_daily is drawn from it: every other relation must not depend on how it was built
MARTS = ("fct_order_reconciliation", "fct_payment_reconciliation", "fct_inventory_reconciliation",
         "correction_plan")


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of every staging and intermediate table and compared mart
    (int_reconcile_changes, the runs' bookkeeping, aside)."""
    with psycopg.connect(url) as conn:
        tables = [f"{r[0]}.{r[1]}" for r in conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where (table_schema = 'staging' and table_name like 'stg\\_%')"
            " or (table_schema = 'intermediate' and table_name not in ('int_reconcile_changes'))")]
        relations = tables + [f"marts.{m}" for m in MARTS]
        return {rel: conn.execute(
            f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), ''))"
            f" from {rel} as t").fetchone() for rel in relations}


def _differences(expected: dict, got: dict) -> dict:
    return {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}


def test_incremental_runs_equal_a_full_refresh(fresh_database: str, tmp_path) -> None:
    url = fresh_database
    world = dumped_world(url, 600, seed=3)
    kwargs = dbt_kwargs(url, tmp_path)

    def run(*args: str, as_of, vars=None) -> None:
        result = dbt.run(list(args), as_of=as_of, vars=vars, **kwargs)
        assert result.success, result.not_passed() or result.output[-3000:]

    def equals_full_refresh(as_of, vars=None) -> dict:
        incremental = fingerprint(url)
        run("run", "--full-refresh", as_of=as_of, vars=vars)
        full = fingerprint(url)
        assert full == incremental, _differences(full, incremental)
        return full

    first = world.clock
    run("build", as_of=first)
    # three hours: dump_raw's window (an hour plus the two-hour lookback) then covers every change
    lifecycle.advance(world, timedelta(hours=3))
    dump_raw(world, url, run_id="second-dump")
    second = world.clock
    with psycopg.connect(url) as conn:
        new_versions = conn.execute(
            "select count(*) from raw.shopify__orders where run_id = 'second-dump'").fetchone()[0]
    assert new_versions > 0, "the world should have changed"

    # forward: only the changed records are restaged, and only the orders they touch judged again
    run("run", as_of=second)
    with psycopg.connect(url) as conn:
        states = conn.execute("select distinct as_of from ops.dbt_incremental_state").fetchall()
    assert states == [(second,)]
    judged = recomputed(url, "int_order_reconciliation")
    assert judged is not None and 0 < judged < 300, f"{judged} of 600 orders judged again"
    incremental = fingerprint(url)
    # a warehouse built before the bookkeeping moved to ops (it lived in staging): dbt refuses it, naming
    # what is missing, and the bootstrap moves it to ops, rows and all, so the next run stays incremental
    with psycopg.connect(url) as conn:
        for table in BOOKKEEPING:
            conn.execute(f"alter table ops.{table} set schema staging")
        conn.execute("alter sequence ops.dbt_change_batches set schema staging")
    refused = dbt.run(["run"], as_of=second, **kwargs)
    assert not refused.success
    assert ("the warehouse has no ops.dbt_incremental_state, ops.dbt_model_scope, ops.dbt_changed_keys,"
            " ops.dbt_change_batches (made by its bootstrap): run `shipshape warehouse up`") in refused.output
    warehouse.bootstrap(url)
    run("run", as_of=second)
    assert fingerprint(url) == incremental, "a rerun at the same as-of changes nothing"
    assert recomputed(url, "int_order_reconciliation") == 0
    with psycopg.connect(url) as conn:
        where = {name: conn.execute("select to_regclass(%s)::text, to_regclass(%s)::text",
                                    (f"ops.{name}", f"staging.{name}")).fetchone()
                 for name in (*BOOKKEEPING, "dbt_change_batches")}
    assert all(ops and not staging for ops, staging in where.values()), where
    full = equals_full_refresh(second)

    # backwards (a backfill at the first clock, the newer versions already in raw)
    run("run", as_of=first)
    backfill = equals_full_refresh(first)
    assert backfill != full, "the two as-ofs should judge differently"

    # a run that leaves the last models behind (as a failed task would): the next run takes both batches
    run("run", as_of=second)
    lifecycle.advance(world, timedelta(hours=2))
    dump_raw(world, url, run_id="third-dump")
    run("run", "--exclude", "int_order_reconciliation+", as_of=world.clock)
    lifecycle.advance(world, timedelta(hours=1))
    dump_raw(world, url, run_id="fourth-dump")
    run("run", as_of=world.clock)
    with psycopg.connect(url) as conn:
        batches = conn.execute("select count(distinct batch) from intermediate.int_reconcile_changes").fetchone()[0]
    assert batches == 2, "the batch the models left behind took is kept until they take it, no longer"
    equals_full_refresh(world.clock)

    # records deleted from raw by hand (journaled in raw._deletions): staging forgets them, and the orders
    # and payments they belonged to are judged again
    with psycopg.connect(url) as conn:
        order_gid, charge_id = conn.execute(
            "select o.order_gid, c.charge_id from staging.stg_shopify__orders as o"
            " join intermediate.int_payment_links as l on l.shopify_order_id = o.shopify_order_id"
            " join staging.stg_stripe__charges as c on 'stripe:' || c.payment_intent_id = l.gateway || ':' || l.payment_id"
            " order by o.shopify_order_id limit 1").fetchone()
        conn.execute("delete from raw.shopify__orders where source_id = %s", (order_gid,))
        conn.execute("delete from raw.stripe__charges where source_id = %s", (charge_id,))
        journaled = conn.execute("select count(*) from raw._deletions").fetchone()[0]
    assert journaled == 2
    run("run", as_of=world.clock)
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from staging.stg_shopify__orders where order_gid = %s",
                            (order_gid,)).fetchone()[0] == 0
    judged = recomputed(url, "int_order_reconciliation")
    assert judged is not None and 0 < judged < 10, judged
    equals_full_refresh(world.clock)

    # a changed tolerance changes every order's judgement: everything is judged again
    loose = {"amount_tolerance": 50}
    run("run", as_of=world.clock, vars=loose)
    assert recomputed(url, "int_order_reconciliation") is None
    equals_full_refresh(world.clock, vars=loose)
