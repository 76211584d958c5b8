"""The reconciliation marts against the sandbox's ground truth, order by order.

For a seeded sandbox world (800 orders, two seeds) the raw tables are filled through the real extraction
code (`dump_raw`, the same `run_stream` the ingest DAG calls), dbt builds everything (seeds, staging,
intermediate, marts, their data tests and unit tests) as of the world clock, and then
`shipshape_sandbox.compare` judges the marts against the truth of what extraction could see (its
docstring explains PayPal's publishing lag and the codes that wait it out):

* `marts.fct_order_reconciliation.mismatch_codes` must equal the truth's codes for every order
  (precision and recall per code are printed, and every disagreement is listed);
* the orders' `payment_status` must equal truth.py's `payment_status` over its links;
* `fct_payment_reconciliation.orphan_payment` must flag exactly the truth's orphan payments;
* `fct_inventory_reconciliation.inventory_mismatch` must flag exactly the truth's SKUs;
* rebuilding the marts at the same as-of gives identical tables;
* every flag column's comment is its code's description from the seed;
* the dbt_build benchmark's baseline (one hand-written statement from SPEC.md's rules) flags exactly what
  `fct_order_reconciliation` flags, so that the benchmark times two computations of the same answer.

The ground truth judges times at full precision while the APIs render them to the second; the rules
compare times only with margins of minutes or hours, so this never matters for these seeds.
The same comparison runs after the real DAGs in tests/integration/test_reconcile_dag.py.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from shipshape import codes, dbt, warehouse
from shipshape_sandbox.benchmarks.dbt_build import disagreements, single_statement
from shipshape_sandbox.compare import compare
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world

pytestmark = pytest.mark.integration

ORDERS = 800
SEEDS = (11, 2026)
# the mart that carries each grain's flag columns
MARTS_BY_GRAIN = {"order": "fct_order_reconciliation", "payment": "fct_payment_reconciliation",
                  "sku": "fct_inventory_reconciliation"}
MARTS = tuple(MARTS_BY_GRAIN.values())


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


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

    as_of: datetime = world.clock
    result = dbt.run(["build"], url=fresh_database, as_of=as_of, target_path=tmp_path / "target",
                     log_path=tmp_path / "logs", echo=False)
    assert result.success, result.not_passed() or result.output[-3000:]

    comparison = compare(world, fresh_database)
    print(f"\nseed {seed}: {comparison.report()}")
    assert not comparison.problems(as_of), "\n".join(comparison.problems(as_of))
    assert sum(map(len, comparison.expected_codes.values())) > 20, "the world should carry mismatches"
    assert comparison.expected_skus, "the world should carry inventory mismatches"
    # the mart's severity (dbt reads it from the seed) is the truth's codes rated by shipshape.codes
    severities = dict(query(fresh_database, "select shopify_order_id, max_severity from marts.fct_order_reconciliation"))
    rated = {order: next((s for s in codes.SEVERITIES if any(codes.severity(c) == s for c in found)), "none")
             for order, found in comparison.expected_codes.items()}
    assert {o: severities[o] for o in rated} == rated

    _, flags = single_statement(fresh_database, as_of)
    assert len(flags) == ORDERS
    assert not disagreements(fresh_database, flags), "the benchmark's statement and the marts disagree"

    before = fingerprint(fresh_database)
    rerun = dbt.run(["run", "--select", "marts"], url=fresh_database, as_of=as_of,
                    target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)
    assert rerun.success, rerun.not_passed() or rerun.output[-3000:]
    assert fingerprint(fresh_database) == before, "a rerun at the same as-of changes nothing"

    # every flag column is described by its code's row of the seed, and only there (no YAML lists them);
    # the rerun replaced the views, and the comments came back with them
    flag_tests = {uid for uid in result.statuses() if ".mismatch_flags_not_null_" in uid}
    assert len(flag_tests) == len(MARTS_BY_GRAIN), flag_tests
    for grain, mart in MARTS_BY_GRAIN.items():
        described = dict(query(fresh_database, (
            "select attname, col_description(attrelid, attnum) from pg_attribute"
            f" where attrelid = 'marts.{mart}'::regclass and attnum > 0 and not attisdropped")))
        expected = {c.flag: f"{c.code}: {c.description}" for c in map(codes.get, codes.names(grain))}
        assert {flag: described.get(flag) for flag in expected} == expected, mart
