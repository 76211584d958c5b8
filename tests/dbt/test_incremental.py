"""Incremental staging gives exactly what a full refresh gives, at every as-of.

A seeded world (600 orders) is dumped through the real extraction and built at its clock. Then the world
moves on three hours (new orders, captures, refunds, shipments, tracker updates), only the new versions are
extracted (the streams' cursors, a later window: what the hourly ingest lands), and dbt runs
incrementally at the new clock: every staging table and every mart that depends only on raw and as-of
must equal, row for row, what `dbt run --full-refresh` builds at the same as-of. The same holds for a
rerun at the same as-of, and for a backfill: an incremental run at the earlier clock, with the newer
versions already in raw, must equal a full refresh there.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape.sandbox import lifecycle
from shipshape.sandbox.dump import dump_raw
from shipshape.sandbox.generate import build_world

pytestmark = pytest.mark.integration

# mismatch_history keeps the history of the runs (a full refresh restarts it by design), and
# mismatch_daily is drawn from it: every other relation must not depend on how it was built
MARTS = ("fct_order_reconciliation", "fct_payment_reconciliation", "fct_inventory_reconciliation",
         "correction_plan")


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of every staging table and compared mart."""
    with psycopg.connect(url) as conn:
        staging = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'staging'"
            " and table_name like 'stg\\_%'")]
        relations = [f"staging.{t}" for t in staging] + [f"marts.{m}" for m in MARTS]
        return {rel: conn.execute(
            f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), ''))"
            f" from {rel} as t").fetchone() for rel in relations}


def test_incremental_runs_equal_a_full_refresh(fresh_database: str, tmp_path) -> None:
    url = fresh_database
    world = build_world(600, seed=3)
    warehouse.bootstrap(url)
    dump_raw(world, url)
    kwargs = dict(url=url, target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)

    def run(*args: str, as_of) -> None:
        result = dbt.run(list(args), as_of=as_of, **kwargs)
        assert result.success, result.not_passed() or result.output[-3000:]

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

    # forward: only the changed records are restaged
    run("run", as_of=second)
    with psycopg.connect(url) as conn:
        states = conn.execute("select distinct as_of from staging.dbt_incremental_state").fetchall()
    assert states == [(second,)]
    incremental = fingerprint(url)
    run("run", as_of=second)
    assert fingerprint(url) == incremental, "a rerun at the same as-of changes nothing"
    run("run", "--full-refresh", as_of=second)
    full = fingerprint(url)
    assert full == incremental, {k: (incremental[k], v) for k, v in full.items() if incremental.get(k) != v}

    # backwards (a backfill at the first clock, the newer versions already in raw)
    run("run", as_of=first)
    backfill = fingerprint(url)
    run("run", "--full-refresh", as_of=first)
    full = fingerprint(url)
    assert full == backfill, {k: (backfill[k], v) for k, v in full.items() if backfill.get(k) != v}
    assert full != incremental, "the two as-ofs should judge differently"
