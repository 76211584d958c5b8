"""The generated world: same seed same world, every injected code shows up, the clock moves, and the whole
sandbox (all five APIs plus /_sandbox) serves it, wired for Airflow by `shipshape sandbox connections`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import httpx

from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import INJECTED_CODES, build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox, world_counts
from shipshape_sandbox.truth import compute_truth


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = build_world(400, seed=11), build_world(400, seed=11), build_world(400, seed=12)
    assert compute_truth(a) == compute_truth(b)
    assert world_counts(a) == world_counts(b)
    assert [o.id for o in a.stripe_payment_intents] == [o.id for o in b.stripe_payment_intents]
    assert [t.tracking_code for t in a.trackers] == [t.tracking_code for t in b.trackers]
    assert compute_truth(a) != compute_truth(c)


def test_default_world_is_realistic_and_carries_every_code():
    world = build_world(3000, seed=1)
    truth = compute_truth(world)
    orders = truth["orders"]
    flagged = sum(1 for o in orders if o["codes"])
    assert 0.05 <= flagged / len(orders) <= 0.10
    seen = Counter(code for o in orders for code in o["codes"])
    assert set(INJECTED_CODES) <= set(seen)
    assert truth["orphan_payments"] and truth["inventory_mismatches"]
    currencies = {o.currency for o in world.shopify_orders}
    countries = {o.shipping_address.country_code for o in world.shopify_orders}
    assert len(currencies) >= 4 and len(countries) >= 5
    assert world.paypal_captures and world.stripe_payment_intents and world.stripe_refunds
    assert any(len(s) > 1 for s in world.shipments_by_order.values())  # split shipments
    assert any(o.cancelled_at for o in world.shopify_orders)
    assert any(li.current_quantity != li.quantity for o in world.shopify_orders for li in o.line_items)


def test_advance_brings_new_orders_and_moves_packages():
    world = build_world(720, seed=4)  # one order an hour on average
    before_orders = len(world.shopify_orders)
    delivered = sum(t.status == "delivered" for t in world.trackers)
    clock = world.clock
    sandbox = Sandbox(world)
    with running(sandbox, apis=()) as base:
        answer = httpx.post(f"{base}/_sandbox/advance", params={"hours": 24}, timeout=30).json()
        health = httpx.get(f"{base}/_sandbox/health", timeout=30).json()
    assert answer["events_applied"] > 0
    assert (world.clock - clock).total_seconds() == 24 * 3600
    assert health["clock"] == world.clock.isoformat()
    assert 10 <= len(world.shopify_orders) - before_orders <= 40
    assert sum(t.status == "delivered" for t in world.trackers) > delivered
    # Records that changed carry the new clock's times, so incremental reads find them.
    assert max(o.updated_at for o in world.shopify_orders) > clock


def test_whole_sandbox_serves_credentials_stats_and_airflow_connections():
    world = build_world(60, seed=2)
    sandbox = Sandbox(world)
    with running(sandbox) as base:
        creds = httpx.get(f"{base}/_sandbox/credentials").json()
        assert set(creds) == {"shopify", "stripe", "paypal", "shiphero", "tracking"}
        assert set(creds["paypal"]) == {"client_id", "client_secret"}
        assert set(creds["shiphero"]) == {"username", "password"}
        port = base.rsplit(":", 1)[1]
        out = subprocess.run(
            [sys.executable, "-m", "shipshape.cli", "sandbox", "connections", "--port", port],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout
        lines = dict(line.removeprefix("export ").split("=", 1) for line in out.strip().splitlines())
        assert {k: json.loads(v.strip("'")) for k, v in lines.items()} == {
            k: json.loads(v) for k, v in connection_env(base, creds).items()
        }
        stripe_conn = json.loads(lines["AIRFLOW_CONN_STRIPE_DEFAULT"].strip("'"))
        url = f"{stripe_conn['schema']}://{stripe_conn['host']}:{stripe_conn['port']}{stripe_conn['extra']['base_path']}"
        response = httpx.get(f"{url}/v1/charges", headers={"Authorization": f"Bearer {stripe_conn['password']}"})
        assert response.status_code == 200 and response.json()["object"] == "list"
        stats = httpx.get(f"{base}/_sandbox/stats").json()
        assert stats["requests"]["GET /stripe/v1/charges"] == 1
