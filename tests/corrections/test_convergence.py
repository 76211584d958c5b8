"""Convergence (SPEC.md "Corrections"): sandbox -> ingest -> reconcile -> apply -> ingest -> reconcile.

A seeded world (400 orders) is served by the sandbox; its raw tables come from the real extraction and
dbt builds the marts at the world clock. push_corrections then applies the plan to the sandbox (every
target connection is the sandbox, so it applies by default). After one more ingest and dbt build every
correctable code is gone from marts.fct_order_reconciliation and from the sandbox's ground truth, the
alert-only codes are untouched, and a second push sends nothing (the sandbox receives no mutation).

Ingest polls the PayPal trackers of captures older than a week only once per 24 h cycle, but asks again
on its next run for every capture the push added a tracker to (ops.correction_log), so the second
ingest, with default settings, already sees them.
"""

from __future__ import annotations

import pytest
from corrections_helpers import (
    CORRECTABLE,
    ingest_and_reconcile,
    inventory_mismatches,
    log_rows,
    mart_codes,
    mart_pairs,
)

from shipshape import warehouse
from shipshape.corrections import push_corrections
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.truth import compute_truth

pytestmark = pytest.mark.integration


def test_apply_converges_and_a_second_push_sends_nothing(fresh_database, tmp_path):
    url = fresh_database
    world = build_world(400, seed=7)
    warehouse.bootstrap(url)
    ingest_and_reconcile(world, url, tmp_path)
    before = mart_codes(url)
    assert sum(before[c] for c in CORRECTABLE) > 0 and inventory_mismatches(url) > 0
    alerts_before = {p for p in mart_pairs(url) if p[1] not in CORRECTABLE}

    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json(), sandbox=True)
        first = push_corrections(url, run_id="converge-1", connections=connections)
        assert first.mode == "apply" and "sandbox" in first.reason
        assert first.outcomes["failed"] == 0, first.failures
        assert first.outcomes["applied"] > 0
        rows = log_rows(url)
        assert {r["status"] for r in rows} <= {"applied", "skipped"}
        assert all(r["attempts"] == 1 and r["last_attempted_at"] for r in rows)
        assert all(r["applied_at"] for r in rows if r["status"] == "applied")
        applied = sandbox.stats.mutations_applied
        assert sum(applied.values()) >= first.outcomes["applied"]

        truth = compute_truth(world)
        left = {(o["order_id"], c) for o in truth["orders"] for c in o["codes"] if c in CORRECTABLE}
        assert not left, f"correctable codes left in the sandbox truth: {sorted(left)[:10]}"
        assert truth["inventory_mismatches"] == []

        # The writes happened at the world clock; a moment later the next extraction window holds them.
        sandbox.advance(1 / 3600)
        ingest_and_reconcile(world, url, tmp_path)
        after = mart_codes(url)
        assert {c: n for c, n in after.items() if c in CORRECTABLE} == {}, after
        assert inventory_mismatches(url) == 0
        alerts_after = {p for p in mart_pairs(url) if p[1] not in CORRECTABLE}
        assert alerts_after == alerts_before, "corrections must not touch alert-only codes"

        received = sum(sandbox.stats.mutations_received.values())
        requests = sum(sandbox.stats.requests.values())
        second = push_corrections(url, run_id="converge-2", connections=connections)
        assert second.sent == 0 and second.pending == 0
        assert sum(sandbox.stats.mutations_received.values()) == received, "a second push sends no mutation"
        assert sum(sandbox.stats.requests.values()) == requests, "nothing left to read either"
