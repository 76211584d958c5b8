"""push_corrections without dbt: a hand-written plan in a real Postgres, and a recording HTTP server on
loopback standing in for the real APIs (its connections carry no sandbox marker).

* a dry run (the default for such hosts) sends no request at all, records every action as `planned` in
  ops.correction_log, and logs the readable plan (counts per target and action, before -> after);
* the circuit breaker refuses a plan above max(50, 5 %) of the orders in scope: nothing sent, actions
  `refused`, a clear error; the run's override lets it through, and Stripe then receives the plan's
  idempotency keys as Idempotency-Key;
* no credential reaches the task log or the outbox, whatever fails;
* the sandbox test, the apply decision and the host guard, on their own.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from corrections_helpers import Recorder, log_rows, write_plan

from shipshape.connections import Connection
from shipshape.corrections import CircuitBreakerTripped, PushSettings, push_corrections
from shipshape.corrections.push import APPLY_ENV, apply_decision
from shipshape.corrections.writers import ForeignHostError, guard_host, is_sandbox
from shipshape.ingest.http import ApiClient, RetryPolicy
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.server import Credentials

CREDENTIALS = Credentials.for_seed(4242)
SECRETS = [CREDENTIALS.shopify_access_token, CREDENTIALS.stripe_secret_key, CREDENTIALS.paypal_client_secret,
           CREDENTIALS.shiphero_password, CREDENTIALS.tracking_api_key]

ONE_OF_EACH = [
    {"target_system": "shiphero", "action": "order_create", "order": 1,
     "payload": {"partner_order_id": "6100000000001", "order_number": "#1001", "shipping_address": {"zip": "1"},
                 "line_items": [{"sku": "A", "partner_line_item_id": "1", "quantity": 1, "price": "1.00"}]}},
    {"target_system": "shiphero", "action": "order_update_shipping_address", "order": 2,
     "payload": {"order_id": "T3JkZXI6MQ==", "shipping_address": {"address1": "2 New St", "zip": "10001"}},
     "before": {"shipping_address": {"address1": "1 Old Rd", "zip": "10001"}}},
    {"target_system": "shiphero", "action": "order_update_holds", "order": 3,
     "payload": {"order_id": "T3JkZXI6Mg==", "payment_hold": True}, "before": {"payment_hold": False}},
    {"target_system": "paypal", "action": "tracker_add", "target_object": "tracker", "order": 4,
     "payload": {"capture_id": "CAP1", "tracking_number": "1Z999", "carrier": "UPS"}},
    {"target_system": "stripe", "action": "charge_update_shipping", "target_object": "charge", "order": 5,
     "payload": {"charge_id": "ch_1", "tracking_numbers": ["1Z999"], "carrier": "UPS", "shipping_name": "A B",
                 "shipping_address": {"line1": "2 New St"}}, "before": {"tracking_numbers": []}},
    {"target_system": "shopify", "action": "fulfillment_create", "order": 6,
     "payload": {"order_gid": "gid://shopify/Order/6", "tracking_info": [{"number": "1Z999", "company": "UPS"}]}},
    {"target_system": "shopify", "action": "inventory_set_available", "target_object": "inventory_level",
     "sku": "A", "payload": {"sku": "A", "inventory_item_id": "7", "location_id": "8", "quantity": 5,
                             "shiphero_available": 5, "shopify_available": 9}, "before": {"available": 9}},
]


@pytest.fixture
def recorder():
    with Recorder() as server:
        yield server


@pytest.fixture
def real_looking(recorder):
    """Connections to the recording server as a deployment would have them: no sandbox marker."""
    return sandbox_connections(recorder.base_url, CREDENTIALS.as_json(), sandbox=False)


def test_dry_run_against_a_host_that_is_not_the_sandbox_sends_nothing(fresh_database, recorder, real_looking,
                                                                     caplog, monkeypatch):
    monkeypatch.delenv(APPLY_ENV, raising=False)
    write_plan(fresh_database, ONE_OF_EACH, orders=400)
    caplog.set_level(logging.DEBUG)
    summary = push_corrections(fresh_database, run_id="dry-1", connections=real_looking)
    assert summary.mode == "dry_run" and summary.sent == 0
    assert recorder.requests == [], "a dry run sends nothing, not even a read"
    rows = log_rows(fresh_database)
    assert len(rows) == len(ONE_OF_EACH) and {r["status"] for r in rows} == {"planned"}
    assert all(r["attempts"] == 0 and r["planned_at"] for r in rows)
    text = caplog.text
    assert "correction plan (dry run" in text and "7 action(s)" in text
    assert "shiphero  order_create" in text and "shopify   inventory_set_available" in text
    assert '{"payment_hold": false} -> {"payment_hold": true}' in text
    assert '"1 Old Rd"' in text and '"2 New St"' in text
    assert not any(secret in text for secret in SECRETS)

    # a second dry run records nothing new and still sends nothing
    again = push_corrections(fresh_database, run_id="dry-2", connections=real_looking)
    assert again.synced["new"] == 0 and recorder.requests == []


def test_circuit_breaker_refuses_an_oversized_plan_and_the_override_lets_it_through(fresh_database, recorder,
                                                                                   real_looking, caplog):
    actions = [{"target_system": "stripe", "action": "charge_update_shipping", "target_object": "charge",
                "order": i, "payload": {"charge_id": f"ch_{i}", "tracking_numbers": [f"1Z{i:04d}"],
                                        "shipping_name": "A B", "shipping_address": {"line1": "1 St"}}}
               for i in range(60)]
    write_plan(fresh_database, actions, orders=400)  # limit: max(50, 20) = 50 < 60
    with pytest.raises(CircuitBreakerTripped, match="60 actions to apply exceed the limit of 50"):
        push_corrections(fresh_database, run_id="big-1", apply=True, connections=real_looking)
    assert recorder.requests == []
    assert {r["status"] for r in log_rows(fresh_database)} == {"refused"}

    write_plan(fresh_database, actions, orders=2000)  # 5 % of 2000 = 100: the same plan passes
    assert push_corrections(fresh_database, run_id="big-2", apply=False, connections=real_looking).mode == "dry_run"
    write_plan(fresh_database, actions, orders=400)
    summary = push_corrections(fresh_database, run_id="big-3", apply=True, override_circuit_breaker=True,
                               connections=real_looking)
    assert summary.outcomes["applied"] == 60 and not summary.refused
    posts = [r for r in recorder.writes() if r["path"].startswith("/stripe/v1/charges/")]
    keys = {r["idempotency_key"] for r in log_rows(fresh_database)}
    assert len(posts) == 60 and {r["headers"]["Idempotency-Key"] for r in posts} == keys
    assert "applying anyway: the run overrides the breaker" in caplog.text


def test_no_secret_reaches_the_log_or_the_outbox(fresh_database, recorder, real_looking, caplog):
    write_plan(fresh_database, ONE_OF_EACH, orders=400)
    caplog.set_level(logging.DEBUG)
    settings = PushSettings(http_retry=RetryPolicy(max_attempts=1), checked_attempts=1)
    push_corrections(fresh_database, run_id="leak-1", apply=True, connections=real_looking, settings=settings)
    assert recorder.requests, "the apply talked to the stand-in"
    rows = log_rows(fresh_database)
    assert {r["status"] for r in rows} & {"failed", "applied", "skipped"}
    stored = repr(rows)
    for secret in SECRETS:
        assert secret not in caplog.text and secret not in stored
    # the credentials did travel, in headers only
    sent = repr([r["headers"] for r in recorder.requests])
    assert CREDENTIALS.stripe_secret_key in sent and CREDENTIALS.shopify_access_token in sent


def test_failed_actions_back_off_and_superseded_ones_are_kept(fresh_database, recorder, real_looking):
    write_plan(fresh_database, ONE_OF_EACH[:1], orders=10)  # ShipHero's auth answers {}: the action fails
    settings = PushSettings(http_retry=RetryPolicy(max_attempts=1), checked_attempts=1)
    first = push_corrections(fresh_database, run_id="f-1", apply=True, connections=real_looking, settings=settings)
    assert first.outcomes["failed"] == 1
    [row] = log_rows(fresh_database)
    assert row["status"] == "failed" and "access_token" in row["error"] and row["next_attempt_at"]
    sent = len(recorder.requests)
    second = push_corrections(fresh_database, run_id="f-2", apply=True, connections=real_looking, settings=settings)
    assert second.waiting == 1 and second.sent == 0 and len(recorder.requests) == sent, "backing off"
    write_plan(fresh_database, ONE_OF_EACH[1:2], orders=10)
    push_corrections(fresh_database, run_id="f-3", apply=False, connections=real_looking)
    statuses = {r["action"]: r["status"] for r in log_rows(fresh_database)}
    assert statuses == {"order_create": "superseded", "order_update_shipping_address": "planned"}


def test_sandbox_test_needs_the_marker_and_a_loopback_host():
    def conn(host: str, **extra) -> Connection:
        return Connection("stripe_default", "http", host, 8765, "http", None, "x", extra)

    assert is_sandbox(conn("127.0.0.1", sandbox=True)) and is_sandbox(conn("localhost", sandbox="true"))
    assert is_sandbox(conn("[::1]", sandbox=True))
    assert not is_sandbox(conn("127.0.0.1"))
    assert not is_sandbox(conn("api.stripe.com", sandbox=True))
    assert not is_sandbox(conn("10.0.0.5", sandbox=True))


def test_apply_decision(monkeypatch):
    box = Connection("stripe_default", "http", "127.0.0.1", 1, "http", None, "x", {"sandbox": True})
    real = Connection("stripe_default", "http", "api.stripe.com", None, "https", None, "x", {})
    monkeypatch.delenv(APPLY_ENV, raising=False)
    assert apply_decision(None, {"stripe": box})[0] is True
    assert apply_decision(None, {"stripe": box, "shopify": real})[0] is False
    assert apply_decision(None, {"stripe": box, "shopify": None})[0] is False
    assert apply_decision(False, {"stripe": box})[0] is False
    assert apply_decision(True, {"stripe": real})[0] is True
    monkeypatch.setenv(APPLY_ENV, "true")
    assert apply_decision(None, {"stripe": real}) == (True, f"deployment setting {APPLY_ENV}=true")
    monkeypatch.setenv(APPLY_ENV, "false")
    assert apply_decision(None, {"stripe": box})[0] is False


def test_the_push_writes_only_to_its_connections_host(recorder):
    conn = Connection("stripe_default", "http", "127.0.0.1", int(recorder.base_url.rsplit(":", 1)[1]), "http",
                      None, "x", {"base_path": "/stripe"})
    client = ApiClient(conn.base_url, retry=RetryPolicy(max_attempts=1))
    guard_host(client, conn)
    client.request("GET", "/v1/charges/ch_1")
    with pytest.raises(ForeignHostError):
        client.request("POST", "http://api.elsewhere.example/v1/charges/ch_1")
    with pytest.raises(ForeignHostError):
        client.request("POST", "http://localhost:1/v1/charges/ch_1")  # same machine, another origin
    assert [r["method"] for r in recorder.requests] == ["GET"]
    client.close()
    assert isinstance(client.http, httpx.Client)
