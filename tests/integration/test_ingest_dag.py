"""shipshape_ingest end to end: the DAG run by Airflow's `dag.test()` against the sandbox (flaky) and a real
Postgres. Raw counts equal the sandbox's, a rerun changes nothing, an update in the sandbox reaches the
next run, hostile records are quarantined, and no secret appears in any log."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from shipshape import warehouse
from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis import paypal as paypal_api
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import PayPalRefund, World

pytestmark = pytest.mark.integration


def published_paypal(world: World) -> set[str]:
    """What Transaction Search serves as of the world clock: balance-affecting rows past the publishing lag."""
    cut = world.clock - paypal_api.PUBLISH_LAG
    ids = set()
    for row in (*world.paypal_captures, *world.paypal_refunds):
        codes = paypal_api.REFUND_STATUS_CODES if isinstance(row, PayPalRefund) else paypal_api.CAPTURE_STATUS_CODES
        if codes.get(row.status, "P") != "D" and row.create_time <= cut:
            ids.add(row.id)
    return ids


def expected_counts(world: World) -> dict[str, int]:
    published = published_paypal(world)
    return {
        "shopify__orders": len(world.shopify_orders),
        "shopify__inventory_items": len(world.shopify_inventory_items),
        "stripe__payment_intents": len(world.stripe_payment_intents),
        "stripe__charges": len(world.stripe_charges),
        "stripe__refunds": len(world.stripe_refunds),
        "stripe__disputes": len(world.stripe_disputes),
        "paypal__transactions": len(published),
        "paypal__trackers": sum(1 for t in world.paypal_trackers if t.transaction_id in published),
        "shiphero__orders": len(world.shiphero_orders),
        "shiphero__shipments": len(world.shiphero_shipments),
        "shiphero__inventory": len(world.shiphero_products),
        "tracking__trackers": len(world.trackers),
    }


def raw_tables(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' and table_name not like '\\_%'")]
        return {t: conn.execute(f'select source_id, payload_hash, payload::text, extracted_at from raw."{t}" '
                                "order by 1, 2").fetchall() for t in tables}


def distinct_counts(url: str) -> dict[str, int]:
    return {t: len({r[0] for r in rows}) for t, rows in raw_tables(url).items()}


def run_ingest(world: World):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(warehouse.project_root() / "dags"))
    return bag.dags["shipshape_ingest"].test(logical_date=world.clock)


@pytest.fixture
def wired(fresh_database, airflow_db, monkeypatch):
    """Connect the DAG to a fresh warehouse and to a sandbox the test builds: yields a starter."""
    warehouse.bootstrap(fresh_database)
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE", fresh_database)

    def start(sandbox: Sandbox):
        context = running(sandbox)
        base = context.__enter__()
        for name, value in connection_env(base, sandbox.credentials.as_json()).items():
            monkeypatch.setenv(name, value)
        started.append(context)
        return base

    started: list = []
    yield start
    for context in started:
        context.__exit__(None, None, None)


def test_ingest_lands_exactly_the_sandbox_then_reruns_idempotently_and_follows_updates(
    wired, fresh_database, capfd, caplog
):
    world = build_world(250, seed=31)
    sandbox = Sandbox(world, faults="flaky", rate_limits="off")
    wired(sandbox)
    caplog.set_level(logging.DEBUG)

    run = run_ingest(world)
    assert str(run.state) == "success"
    assert distinct_counts(fresh_database) == expected_counts(world)
    injected = sandbox.stats.as_json()["faults_injected"]
    assert sum(injected.values()) > 0, "the flaky sandbox injected no fault: the test proves nothing"

    before = raw_tables(fresh_database)
    rerun = run_ingest(world)
    assert str(rerun.state) == "success"
    assert raw_tables(fresh_database) == before

    # The world moves on (an address edit, new orders, packages delivered, refunds) within the next hour,
    # whose run picks it all up.
    order = next(o for o in world.shopify_orders if o.cancelled_at is None and o.shipping_address)
    lifecycle.edit_address(world, order, replace(order.shipping_address, address1="1 Changed Street"))
    lifecycle.advance(world, timedelta(hours=1))
    assert str(run_ingest(world).state) == "success"
    assert distinct_counts(fresh_database) == expected_counts(world)
    with psycopg.connect(fresh_database) as conn:
        latest = conn.execute(
            "select payload from raw.shopify__orders where source_id = %s "
            "order by source_updated_at desc, extracted_at desc limit 1", (order.gid,)).fetchone()
    assert latest is not None, "the edited order was not extracted"
    assert latest[0]["shippingAddress"]["address1"] == "1 Changed Street"

    secrets = [v for api in sandbox.credentials.as_json().values() for v in api.values()
               if v != sandbox.credentials.shiphero_username]
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "extract_shopify__orders" in logs or "shopify.orders" in logs  # the task logs were captured
    for secret in secrets:
        assert secret not in logs


def test_hostile_records_land_in_quarantine_with_their_reasons(wired, fresh_database):
    world = build_world(250, seed=32)
    sandbox = Sandbox(world, faults="hostile", rate_limits="off")
    sandbox.faults.error_rate = sandbox.faults.throttle_rate = sandbox.faults.slow_rate = 0  # only malformed records
    sandbox.faults.malformed_rate = 0.01
    wired(sandbox)
    assert str(run_ingest(world).state) == "success"
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("select source, stream, record_id, field, reason from raw._quarantine").fetchall()
    assert rows, "hostile mode malformed nothing"
    reasons = {r[4].split(" ")[0] for r in rows}
    assert reasons & {"missing", "negative", "unknown", "unparseable"}
    for source, stream, record_id, field, reason in rows:
        assert field and reason, (source, stream, record_id)
    sources = {r[0] for r in rows}
    assert len(sources) >= 3, json.dumps(rows[:5], default=str)
