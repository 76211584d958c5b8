"""correction_plan, mismatch_history and mismatch_daily over a dumped sandbox world, and the committed
manifest shipshape_reconcile is rendered from.

A seeded world (500 orders, seed 5: it carries an order with both TRACKING_MISSING_IN_SHOPIFY and
DELIVERED_NOT_FULFILLED) is dumped through the real extraction and built by dbt at the world clock. Then:

* the plan holds only correctable codes, each action once (unique action_id and idempotency_key), every
  correctable code of the order mart is answered by an action, and the two Shopify codes share one
  fulfillment action; a second build at the same as-of gives the same keys;
* mismatch_history opens an episode per code at the first as-of; after one ShipHero order disappears
  from raw and dbt runs an hour later, its ShipHero-side codes are resolved at the new as-of and the
  rest stay open (last_seen_at moves); mismatch_daily counts them; a rerun at the same as-of changes no
  mart.
"""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from dbt_helpers import dbt_kwargs, dumped_world

from shipshape import codes, dbt

CORRECTABLE = codes.correctable()
SHIPHERO_SIDE = {"ADDRESS_MISMATCH", "LINE_ITEMS_MISMATCH", "SHIPPING_METHOD_MISMATCH", "CANCELLED_NOT_IN_3PL",
                 "UNPAID_NOT_HELD"}
MARTS = ("fct_order_reconciliation", "correction_plan", "mismatch_history", "mismatch_daily")


def test_committed_manifest_is_current() -> None:
    """dbt_project/manifest.json (what Cosmos renders shipshape_reconcile from) matches the models:
    regenerate it with `make manifest` (python -m shipshape.dbt manifest) after changing any."""
    committed = dbt.manifest_graph(json.loads(dbt.manifest_path().read_text()))
    fresh = dbt.manifest_graph(dbt.parse_manifest())
    assert committed.keys() == fresh.keys(), "stale dbt_project/manifest.json: run make manifest"
    assert committed == fresh, "stale dbt_project/manifest.json: run make manifest"


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def fingerprint(url: str) -> dict[str, tuple]:
    return {
        mart: query(url, f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), ''))"
                         f" from marts.{mart} as t")[0]
        for mart in MARTS
    }


@pytest.mark.integration
def test_plan_history_and_daily(fresh_database: str, tmp_path) -> None:
    url = fresh_database
    world = dumped_world(url, 500, seed=5)
    as_of = world.clock
    kwargs = dbt_kwargs(url, tmp_path)
    built = dbt.run(["build"], as_of=as_of, **kwargs)
    assert built.success, built.not_passed() or built.output[-3000:]

    # ---------------------------------------------------------------------------- correction_plan
    plan = query(url, "select action_id, target_system, action, mismatch_codes, shopify_order_id, sku,"
                      " idempotency_key, payload from marts.correction_plan")
    assert plan, "the world should call for corrections"
    assert len({p[0] for p in plan}) == len(plan), "each action once"
    assert len({p[6] for p in plan}) == len(plan), "one idempotency key per action"
    assert all(len(p[6]) == 64 for p in plan)
    planned_codes = {c for p in plan for c in p[3]}
    assert planned_codes <= CORRECTABLE, planned_codes - CORRECTABLE
    # each action is the one the seed names for every code it answers, at the seed's severity
    rated = dict(query(url, "select action_id, severity from marts.correction_plan"))
    for p in plan:
        for code in p[3]:
            assert (p[1], p[2]) == (codes.get(code).correction_system, codes.get(code).correction_action), (p[0], code)
        assert rated[p[0]] == next(s for s in codes.SEVERITIES if any(codes.severity(c) == s for c in p[3])), p[0]

    answered = {(p[4], c) for p in plan for c in p[3] if p[4] is not None}
    flagged = {(row[0], c) for row in query(url, "select shopify_order_id, mismatch_codes"
                                                 " from marts.fct_order_reconciliation") for c in row[1]}
    missing = {f for f in flagged if f[1] in CORRECTABLE} - answered
    assert not missing, f"correctable codes with no action: {sorted(missing)[:10]}"
    skus = {r[0] for r in query(url, "select sku from marts.fct_inventory_reconciliation where inventory_mismatch")}
    assert skus and {p[5] for p in plan if p[2] == "inventory_set_available"} == skus

    shared = [p for p in plan if {"TRACKING_MISSING_IN_SHOPIFY", "DELIVERED_NOT_FULFILLED"} <= set(p[3])]
    assert shared, "seed 5 has an order with both Shopify codes"
    for p in shared:
        assert p[1:3] == ("shopify", "fulfillment_create")
        same_order = [q for q in plan if q[4] == p[4] and q[2] == "fulfillment_create"]
        assert len(same_order) == 1, "the shared fix is one action"
        assert p[7]["tracking_info"], p[7]
    fulfillments = [p[4] for p in plan if p[2] == "fulfillment_create"]
    assert len(fulfillments) == len(set(fulfillments))

    keys = {(p[0], p[6]) for p in plan}
    rebuilt = dbt.run(["run"], as_of=as_of, **kwargs)
    assert rebuilt.success, rebuilt.not_passed()
    assert set(query(url, "select action_id, idempotency_key from marts.correction_plan")) == keys

    # ----------------------------------------------------------------------------- mismatch_history
    first = query(url, "select entity_type, entity_id, code, first_seen_at, last_seen_at, resolved_at"
                       " from marts.mismatch_history")
    assert {(r[3], r[4], r[5]) for r in first} == {(as_of, as_of, None)}
    assert all(severity == codes.severity(code) for code, severity in query(
        url, "select code, severity from marts.mismatch_history")), "each episode at the seed's severity"
    assert {(r[1], r[2]) for r in first if r[0] == "order"} == {(str(o), c) for o, c in flagged}

    # one ShipHero order leaves (as if deleted upstream): its ShipHero-side codes resolve an hour later
    victim = query(url, "select shopify_order_id, shiphero_order_id, mismatch_codes from marts.fct_order_reconciliation"
                        " where mismatch_codes && %s::text[] order by shopify_order_id limit 1",
                   (sorted(SHIPHERO_SIDE),))[0]
    with psycopg.connect(url) as conn:
        conn.execute("delete from raw.shiphero__orders where source_id = %s", (victim[1],))
    later = as_of + timedelta(hours=1)
    run = dbt.run(["run"], as_of=later, **kwargs)
    assert run.success, run.not_passed() or run.output[-3000:]
    history = query(url, "select entity_id, code, first_seen_at, last_seen_at, resolved_at"
                         " from marts.mismatch_history where entity_type = 'order'")
    resolved = {(r[0], r[1]) for r in history if r[4] is not None}
    expected_resolved = {(str(victim[0]), c) for c in victim[2] if c in SHIPHERO_SIDE}
    assert expected_resolved <= resolved
    assert {r[4] for r in history if r[4] is not None} == {later}
    current = {(str(r[0]), c) for r in query(url, "select shopify_order_id, mismatch_codes"
                                                  " from marts.fct_order_reconciliation") for c in r[1]}
    open_now = {(r[0], r[1]) for r in history if r[4] is None}
    assert open_now == current, "open episodes are exactly the codes judged now"
    assert all(r[3] == later for r in history if r[4] is None)
    assert all(r[2] == as_of for r in history if (r[0], r[1]) in resolved)

    daily = query(url, "select day, code, sum(open_count), sum(opened_count), sum(resolved_count)"
                       " from marts.mismatch_daily group by day, code")
    assert sum(r[4] for r in daily) == len(resolved)
    last_day = max(r[0] for r in daily)
    open_by_code: dict[str, int] = {}
    for _, code in open_now:
        open_by_code[code] = open_by_code.get(code, 0) + 1
    assert {r[1]: r[2] for r in daily if r[0] == last_day and r[2]} == {
        c: n for c, n in open_by_code.items()} | {
        c: n for c, n in query(url, "select code, count(*) from marts.mismatch_history"
                                    " where entity_type <> 'order' and resolved_at is null group by code")}

    # a rerun at the same as-of changes nothing
    before = fingerprint(url)
    again = dbt.run(["run"], as_of=later, **kwargs)
    assert again.success, again.not_passed()
    assert fingerprint(url) == before
