"""The data tests of an incremental run check the rows that run recomputed (macros/test_scope.sql).

A seeded world (300 orders) is dumped and built, moves on an hour, and its new versions are extracted and
run incrementally. A duplicate of a row the run did not recompute is not seen by `unique` (its rows were
tested when they were written), a duplicate of a recomputed row is; after a full refresh of the model every
row is tested again. dbt's real tests run against a real Postgres: the filter they run under is the one
that reads keys from the index each table built whole gets on its scope key.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from dbt_helpers import dbt_kwargs, dumped_world, recomputed

from shipshape import dbt
from shipshape_sandbox import lifecycle
from shipshape_sandbox.dump import dump_raw

pytestmark = pytest.mark.integration

MODEL = "int_order_facts"
UNIQUE_TEST = "test.shipshape.unique_int_order_facts_shopify_order_id"


def _duplicate(url: str, in_scope: bool) -> int:
    """Insert a copy of one row of MODEL whose key the last run did (or did not) recompute; its key."""
    membership = "in" if in_scope else "not in"
    with psycopg.connect(url) as conn:
        key = conn.execute(
            f"select shopify_order_id from intermediate.{MODEL} where shopify_order_id::text {membership}"
            " (select key from ops.dbt_model_scope where model = %s and key is not null)"
            " order by shopify_order_id limit 1", (MODEL,)).fetchone()[0]
        conn.execute(f"insert into intermediate.{MODEL} select * from intermediate.{MODEL}"
                     " where shopify_order_id = %s", (key,))
    return key


def test_incremental_data_tests_check_the_recomputed_rows(fresh_database: str, tmp_path) -> None:
    url = fresh_database
    world = dumped_world(url, 300, seed=4)
    kwargs = dbt_kwargs(url, tmp_path)
    assert dbt.run(["build", "--exclude-resource-type", "unit_test"], as_of=world.clock, **kwargs).success

    lifecycle.advance(world, timedelta(hours=1))
    dump_raw(world, url, run_id="second-dump")
    assert dbt.run(["run"], as_of=world.clock, **kwargs).success
    keys = recomputed(url, MODEL)
    assert keys is not None and 0 < keys < 150, keys

    def unique_test_status() -> str:
        result = dbt.run(["test", "--select", MODEL], as_of=world.clock, **kwargs)
        [status] = [s for node, s in result.statuses().items() if node.startswith(UNIQUE_TEST + ".")]
        return status

    assert unique_test_status() == "pass"
    _duplicate(url, in_scope=False)
    assert unique_test_status() == "pass", "rows an earlier run wrote (and tested) are not tested again"
    _duplicate(url, in_scope=True)
    assert unique_test_status() == "fail", "a duplicate among the recomputed rows must fail the test"

    # a full refresh recomputes every key: its tests read the whole table, so a duplicate anywhere fails
    assert dbt.run(["run", "--full-refresh", "--select", MODEL], as_of=world.clock, **kwargs).success
    assert unique_test_status() == "pass"
    _duplicate(url, in_scope=False)  # every key is in scope now, so this is the first key of the table
    assert unique_test_status() == "fail"
