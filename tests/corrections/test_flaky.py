"""Under `--faults flaky`: every action ends applied, each idempotency key is applied at most once, and an
action that fails is logged with its error and applied by a later run. Nothing is silently lost.

The world is ingested and reconciled without faults (the marts are what they are), then pushed to a
sandbox that injects 5xx, 429 and slow answers. The clients get a single attempt per request here so
that faults surface as failed actions (in production their retries absorb most of them) and the
outbox's own retry across runs is what gets tested; the backoff is zero so the next run may retry at once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from corrections_helpers import CORRECTABLE, ingest_and_reconcile, log_rows

from shipshape import warehouse
from shipshape.corrections import PushSettings, push_corrections
from shipshape.ingest.http import RetryPolicy
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.truth import compute_truth

pytestmark = pytest.mark.integration

# The sandbox's mutation counters (api:operation) and the actions that send exactly one such mutation.
ONE_MUTATION = {
    "shiphero:order_create": ("order_create",),
    "shiphero:order_update_holds": ("order_update_holds",),
    "shiphero:order_cancel": ("order_cancel",),
    "shiphero:order_update": ("order_update_shipping_address", "order_update_shipping_lines"),
    "shopify:inventorySetQuantities": ("inventory_set_available",),
    "shopify:fulfillmentCreate|shopify:fulfillmentTrackingInfoUpdate": ("fulfillment_create",),
}


def test_flaky_apis_each_key_applied_at_most_once_and_failures_retried(fresh_database, tmp_path):
    url = fresh_database
    world = build_world(300, seed=11)
    warehouse.bootstrap(url)
    ingest_and_reconcile(world, url, tmp_path)

    sandbox = Sandbox(world, faults="flaky", rate_limits="off")
    sandbox.faults.error_rate = 0.15  # enough faults that some actions fail on the first run
    settings = PushSettings(http_retry=RetryPolicy(max_attempts=1, base_delay=0.01), retry_base=timedelta(0),
                            checked_attempts=2, sleep=lambda s: None)
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json(), sandbox=True)
        runs = []
        for n in range(1, 9):
            summary = push_corrections(url, run_id=f"flaky-{n}", connections=connections, settings=settings)
            runs.append(summary)
            rows = log_rows(url)
            assert {r["status"] for r in rows} <= {"applied", "skipped", "failed"}, "nothing silently lost"
            for r in rows:
                if r["status"] == "failed":
                    assert r["error"] and r["next_attempt_at"], r
            if all(r["status"] in ("applied", "skipped") for r in rows):
                break
        stats = sandbox.stats.as_json()

    assert runs[0].outcomes["failed"] > 0, "the faults should fail some actions on the first run"
    assert all(r["status"] in ("applied", "skipped") for r in rows), [r for r in rows if r["status"] == "failed"]
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried and all(r["status"] == "applied" or r["status"] == "skipped" for r in retried)
    assert stats["faults_injected"], "the sandbox did inject faults"

    # Stripe and PayPal: the sandbox counts state changes per key
    assert stats["idempotency_keys_applied_more_than_once"] == []
    # ShipHero and Shopify have no keys: one applied mutation per applied action of these kinds
    applied = stats["mutations_applied"]
    for operations, actions in ONE_MUTATION.items():
        done = sum(1 for r in rows if r["action"] in actions and r["status"] == "applied")
        sent = sum(applied.get(op, 0) for op in operations.split("|"))
        assert sent == done, (operations, sent, done)

    truth = compute_truth(world)
    left = {(o["order_id"], c) for o in truth["orders"] for c in o["codes"] if c in CORRECTABLE}
    assert not left
    # Inventory is not checked here: ShipHero order fixes (created orders, changed lines, cancellations)
    # move ShipHero's allocations, so with failures spread over runs a SKU may show a new, real gap that the
    # next reconcile plans (test_convergence checks inventory in one run without faults).
