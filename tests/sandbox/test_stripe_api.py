"""The Stripe emulation over real HTTP: the official SDK pointed at the sandbox, and raw httpx where the
wire itself (headers, error bodies, idempotency) is what is under test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import stripe
import uvicorn

from shipshape_sandbox.apis import stripe as stripe_api
from shipshape_sandbox.runner import free_port
from shipshape_sandbox.server import Sandbox, create_app
from shipshape_sandbox.world import (
    Address,
    StripeCharge,
    StripeDispute,
    StripeEvent,
    StripePaymentIntent,
    StripeRefund,
    StripeShipping,
    World,
    epoch,
)

CLOCK = datetime(2026, 11, 1, tzinfo=UTC)
BASE = epoch(datetime(2026, 10, 1, tzinfo=UTC))
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "stripe-fixtures3.json"


def make_world(n: int = 12) -> World:
    """n paid orders a minute apart, two sharing one second; refunds on every third, one dispute."""
    world = World(clock=CLOCK, seed=1)
    address = Address("Ann", "Lee", "1 Main St", "Apt 2", "Springfield", "Illinois", "IL", "62701",
                      "United States", "US")  # fmt: skip
    for i in range(n):
        created = BASE + i * 60 if i != 5 else BASE + 4 * 60  # pi_0004 and pi_0005 share a second
        pi = StripePaymentIntent(
            id=f"pi_{i:04d}", created=created, amount=1000 + i, currency="usd", status="succeeded",
            capture_method="automatic", amount_received=1000 + i, latest_charge=f"ch_{i:04d}",
            metadata={"shopify_order_id": str(5000 + i)},
            shipping=StripeShipping("Ann Lee", address) if i % 2 == 0 else None,
        )  # fmt: skip
        world.stripe_payment_intents.add(pi)
        world.stripe_charges.add(StripeCharge(
            id=f"ch_{i:04d}", created=created, amount=1000 + i, currency="usd", status="succeeded",
            payment_intent=pi.id, captured=True, amount_captured=1000 + i, paid=True,
            metadata=dict(pi.metadata), billing_name="Ann Lee", balance_transaction=f"txn_{i:04d}",
        ))  # fmt: skip
        if i % 3 == 0:
            world.stripe_refunds.add(StripeRefund(
                id=f"re_{i:04d}", created=created + 30, amount=100, currency="usd", charge=f"ch_{i:04d}",
                payment_intent=pi.id, status="succeeded", reason="requested_by_customer",
            ))  # fmt: skip
            world.stripe_charges.get(f"ch_{i:04d}").amount_refunded = 100
    world.stripe_disputes.add(StripeDispute(
        id="dp_0001", created=BASE + 90, amount=1001, currency="usd", charge="ch_0001", payment_intent="pi_0001",
        status="needs_response", reason="product_not_received",
    ))  # fmt: skip
    return world


def add_event(world: World, event_id: str, created: int, type_: str, obj) -> None:
    kind = "dispute" if type_.startswith("charge.dispute.") else type_.split(".")[0]
    world.stripe_events.add(StripeEvent(event_id, created, type_, kind, obj))


@contextmanager
def serve(sandbox: Sandbox) -> Iterator[str]:
    """The Stripe app alone on a free loopback port (the other APIs are not needed here)."""
    port = free_port()
    sandbox.base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(create_app(sandbox, apis=("stripe",)), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.01)
    try:
        yield sandbox.base_url + "/stripe"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(make_world(), rate_limits="off")


@pytest.fixture
def base(sandbox: Sandbox) -> Iterator[str]:
    with serve(sandbox) as url:
        yield url


@pytest.fixture
def client(sandbox: Sandbox, base: str) -> stripe.StripeClient:
    return stripe.StripeClient(sandbox.credentials.stripe_secret_key, base_addresses={"api": base},
                               max_network_retries=0)  # fmt: skip


@pytest.fixture
def http(sandbox: Sandbox, base: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.credentials.stripe_secret_key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as c:
        yield c


def newest_first(rows) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: (r.created, r.id), reverse=True)]


# ------------------------------------------------------------------------------------------------ lists
def test_sdk_auto_pages_every_charge_and_payment_intent_newest_first(sandbox, client):
    world = sandbox.world
    charges = [c.id for c in client.v1.charges.list(params={"limit": 5}).auto_paging_iter()]
    assert charges == newest_first(world.stripe_charges)
    intents = [p.id for p in client.v1.payment_intents.list(params={"limit": 3}).auto_paging_iter()]
    assert intents == newest_first(world.stripe_payment_intents)
    refunds = [r.id for r in client.v1.refunds.list().auto_paging_iter()]
    assert refunds == newest_first(world.stripe_refunds)
    assert [d.id for d in client.v1.disputes.list().auto_paging_iter()] == ["dp_0001"]


def test_list_envelope_default_limit_and_has_more(http):
    body = http.get("/v1/charges").json()
    assert set(body) == {"object", "data", "has_more", "url"}
    assert body["object"] == "list" and body["url"] == "/v1/charges"
    assert len(body["data"]) == 10 and body["has_more"] is True
    rest = http.get("/v1/charges", params={"starting_after": body["data"][-1]["id"]}).json()
    assert len(rest["data"]) == 2 and rest["has_more"] is False


def test_created_filters(sandbox, client, http):
    gte = BASE + 6 * 60
    got = [c.id for c in client.v1.charges.list(params={"created": {"gte": gte}}).auto_paging_iter()]
    assert got == newest_first(c for c in sandbox.world.stripe_charges if c.created >= gte)
    assert got[-1] == "ch_0006"
    window = http.get("/v1/charges", params={"created[gt]": BASE + 60, "created[lte]": BASE + 4 * 60}).json()
    assert [c["id"] for c in window["data"]] == ["ch_0005", "ch_0004", "ch_0003", "ch_0002"]
    lt = http.get("/v1/payment_intents", params={"created[lt]": BASE + 60}).json()
    assert [p["id"] for p in lt["data"]] == ["pi_0000"]
    exact = http.get("/v1/charges", params={"created": BASE + 4 * 60}).json()
    assert [c["id"] for c in exact["data"]] == ["ch_0005", "ch_0004"]  # same second: id descending
    bad = http.get("/v1/charges", params={"created[after]": 1})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_unknown"


def test_starting_after_and_ending_before_pages(http):
    first = http.get("/v1/charges", params={"limit": 4}).json()
    ids = [c["id"] for c in first["data"]]
    assert ids == ["ch_0011", "ch_0010", "ch_0009", "ch_0008"]
    second = http.get("/v1/charges", params={"limit": 4, "starting_after": ids[-1]}).json()
    assert [c["id"] for c in second["data"]] == ["ch_0007", "ch_0006", "ch_0005", "ch_0004"]
    # The tie at one second pages correctly: after ch_0005 comes ch_0004.
    tie = http.get("/v1/charges", params={"limit": 1, "starting_after": "ch_0005"}).json()
    assert [c["id"] for c in tie["data"]] == ["ch_0004"]
    back = http.get("/v1/charges", params={"limit": 2, "ending_before": "ch_0007"}).json()
    assert [c["id"] for c in back["data"]] == ["ch_0009", "ch_0008"] and back["has_more"] is True
    top = http.get("/v1/charges", params={"limit": 5, "ending_before": "ch_0009"}).json()
    assert [c["id"] for c in top["data"]] == ["ch_0011", "ch_0010"] and top["has_more"] is False


def test_list_parameter_errors(http):
    over = http.get("/v1/charges", params={"limit": 101})
    assert over.status_code == 400
    err = over.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == "limit"
    assert err["message"] == "This value must be less than or equal to 100."
    assert http.get("/v1/charges", params={"limit": 0}).json()["error"]["param"] == "limit"
    assert http.get("/v1/charges", params={"limit": "ten"}).json()["error"]["message"] == "Invalid integer: ten"
    unknown = http.get("/v1/charges", params={"colour": "red"}).json()["error"]
    assert unknown == {**unknown, "code": "parameter_unknown", "param": "colour",
                       "message": "Received unknown parameter: colour"}  # fmt: skip
    missing = http.get("/v1/charges", params={"starting_after": "ch_nope"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "resource_missing"
    assert missing.json()["error"]["message"] == "No such charge: 'ch_nope'"
    both = http.get("/v1/charges", params={"starting_after": "ch_0001", "ending_before": "ch_0003"})
    assert both.status_code == 400


def test_filters_by_payment_intent_and_charge(client, http):
    assert [c.id for c in client.v1.charges.list(params={"payment_intent": "pi_0003"})] == ["ch_0003"]
    assert [r.id for r in client.v1.refunds.list(params={"charge": "ch_0006"})] == ["re_0006"]
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": "pi_0009"})] == ["re_0009"]
    assert http.get("/v1/refunds", params={"charge": "ch_0001"}).json()["data"] == []
    assert [d["id"] for d in http.get("/v1/disputes", params={"charge": "ch_0001"}).json()["data"]] == ["dp_0001"]
    sub = http.get("/v1/charges/ch_0003/refunds").json()
    assert [r["id"] for r in sub["data"]] == ["re_0003"] and sub["url"] == "/v1/charges/ch_0003/refunds"


def test_retrieve_and_expand(client, http):
    charge = client.v1.charges.retrieve("ch_0003")
    assert (charge.id, charge.amount, charge.payment_intent) == ("ch_0003", 1003, "pi_0003")
    assert charge.refunds.data[0].id == "re_0003" and charge.amount_refunded == 100
    pi = client.v1.payment_intents.retrieve("pi_0002", params={"expand": ["latest_charge"]})
    assert pi.latest_charge.id == "ch_0002" and pi.latest_charge.object == "charge"
    listed = client.v1.payment_intents.list(params={"limit": 2, "expand": ["data.latest_charge"]})
    assert [p.latest_charge.id for p in listed.data] == ["ch_0011", "ch_0010"]
    missing = http.get("/v1/payment_intents/pi_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No such payment_intent: 'pi_nope'"
    assert missing.json()["error"]["param"] == "id"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.retrieve("ch_nope")
    not_expandable = http.get("/v1/charges/ch_0001", params={"expand[]": "outcome"})
    assert not_expandable.status_code == 400 and "cannot be expanded" in not_expandable.json()["error"]["message"]


# --------------------------------------------------------------------------------------------- updates
def test_sdk_updates_charge_shipping_and_an_event_is_emitted(sandbox, client):
    updated = client.v1.charges.update("ch_0004", params={
        "shipping": {"name": "Ann Lee", "carrier": "UPS", "tracking_number": "1Z999,1Z998",
                     "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL",
                                 "postal_code": "62701", "country": "US"}},
        "metadata": {"note": "tracked"},
    }, options={"idempotency_key": "track-ch_0004"})  # fmt: skip
    assert updated.shipping.tracking_number == "1Z999,1Z998" and updated.shipping.carrier == "UPS"
    again = client.v1.charges.retrieve("ch_0004")
    assert again.shipping.address.postal_code == "62701" and again.metadata.to_dict() == {
        "shopify_order_id": "5004", "note": "tracked"}  # fmt: skip
    assert sandbox.world.stripe_charges.get("ch_0004").shipping.tracking_number == "1Z999,1Z998"
    events = client.v1.events.list(params={"type": "charge.updated"}).data
    assert len(events) == 1
    event = events[0].to_dict()
    assert event["data"]["object"]["id"] == "ch_0004"
    assert event["data"]["object"]["shipping"]["tracking_number"] == "1Z999,1Z998"
    assert event["data"]["previous_attributes"] == {"metadata": {"note": None}, "shipping": None}
    assert event["request"]["idempotency_key"] == "track-ch_0004" and event["request"]["id"].startswith("req_")
    assert sandbox.stats.mutations_applied["stripe:charges.update"] == 1


def test_shipping_validation(http):
    no_name = http.post("/v1/charges/ch_0001", data={"shipping[address][line1]": "1 Main", "shipping[carrier]": "UPS"})
    assert no_name.status_code == 400
    assert no_name.json()["error"] == {**no_name.json()["error"], "code": "parameter_missing",
                                       "param": "shipping[name]", "message": "Missing required param: shipping[name]."}  # fmt: skip
    no_address = http.post("/v1/charges/ch_0001", data={"shipping[name]": "Ann", "shipping[tracking_number]": "1"})
    assert no_address.json()["error"]["param"] == "shipping[address]"
    bad_key = http.post("/v1/charges/ch_0001", data={"shipping[name]": "Ann", "shipping[address][zip]": "1"})
    assert bad_key.json()["error"]["message"] == "Received unknown parameter: shipping[address][zip]"
    unknown = http.post("/v1/charges/ch_0001", data={"amount": "5"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "parameter_unknown"
    missing = http.post("/v1/charges/ch_nope", data={"metadata[a]": "b"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


def test_payment_intent_update_sets_and_unsets_shipping_without_an_event(sandbox, client, http):
    events_before = len(sandbox.world.stripe_events)
    pi = client.v1.payment_intents.update("pi_0001", params={
        "shipping": {"name": "Bo Chen", "address": {"line1": "9 Elm", "country": "CA"}},
        "metadata": {"shopify_order_id": ""},
    })  # fmt: skip
    assert pi.shipping.name == "Bo Chen" and pi.shipping.address.country == "CA"
    assert pi.metadata.to_dict() == {}
    cleared = http.post("/v1/payment_intents/pi_0001", data={"shipping": ""}).json()
    assert cleared["shipping"] is None
    assert len(sandbox.world.stripe_events) == events_before  # Stripe has no payment_intent.updated
    locked = http.post("/v1/payment_intents/pi_0001", data={"amount": "50"})
    assert locked.status_code == 400 and locked.json()["error"]["code"] == "payment_intent_unexpected_state"


# ----------------------------------------------------------------------------------------- idempotency
def test_idempotent_replay_and_conflict(sandbox, http):
    form = {"shipping[name]": "Ann Lee", "shipping[address][line1]": "1 Main St", "shipping[carrier]": "USPS",
            "shipping[tracking_number]": "9400111"}  # fmt: skip
    first = http.post("/v1/charges/ch_0002", data=form, headers={"Idempotency-Key": "k-1"})
    second = http.post("/v1/charges/ch_0002", data=form, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert second.headers["Original-Request"] == first.headers["Request-Id"] != second.headers["Request-Id"]
    stats = sandbox.stats
    assert stats.idempotency_keys_applied["stripe:k-1"] == 1 and stats.idempotent_replays["stripe"] == 1
    assert stats.mutations_received["stripe:charges.update"] == 2
    assert stats.mutations_applied["stripe:charges.update"] == 1
    assert len([e for e in sandbox.world.stripe_events if e.type == "charge.updated"]) == 1

    conflict = http.post("/v1/charges/ch_0002", data={**form, "shipping[carrier]": "UPS"},
                         headers={"Idempotency-Key": "k-1"})  # fmt: skip
    assert conflict.status_code == 400
    err = conflict.json()["error"]
    assert err["type"] == "idempotency_error"
    assert err["message"] == (
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        "Try using a key other than 'k-1' if you meant to execute a different request."
    )
    other_endpoint = http.post("/v1/charges/ch_0003", data=form, headers={"Idempotency-Key": "k-1"})
    assert other_endpoint.json()["error"]["type"] == "idempotency_error"
    assert "same endpoint" in other_endpoint.json()["error"]["message"]

    # Validation failures are not saved under the key: the corrected request then runs.
    bad = http.post("/v1/charges/ch_0003", data={"shipping[carrier]": "UPS"}, headers={"Idempotency-Key": "k-2"})
    assert bad.status_code == 400
    good = http.post("/v1/charges/ch_0003", data=form, headers={"Idempotency-Key": "k-2"})
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers

    # Keys expire after 24 hours of the world's clock.
    sandbox.world.clock += timedelta(hours=25)
    expired = http.post("/v1/charges/ch_0002", data={**form, "shipping[carrier]": "UPS"},
                        headers={"Idempotency-Key": "k-1"})  # fmt: skip
    assert expired.status_code == 200 and expired.json()["shipping"]["carrier"] == "UPS"


def test_sdk_sends_a_key_on_every_post_and_replays_are_not_applied_twice(sandbox, client):
    params = {"metadata": {"fixed": "yes"}}
    client.v1.charges.update("ch_0005", params=params, options={"idempotency_key": "same"})
    replay = client.v1.charges.update("ch_0005", params=params, options={"idempotency_key": "same"})
    assert replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert sandbox.stats.idempotency_keys_applied["stripe:same"] == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.charges.update("ch_0005", params={"metadata": {"fixed": "no"}}, options={"idempotency_key": "same"})


# ----------------------------------------------------------------------------------------------- auth
def test_auth_errors_and_basic_auth(sandbox, base):
    wrong = httpx.get(f"{base}/v1/charges", headers={"Authorization": "Bearer sk_test_notthekey9876"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"message": "Invalid API Key provided: sk_test_*********9876",
                                      "type": "invalid_request_error"}}  # fmt: skip
    assert wrong.headers["Request-Id"].startswith("req_")
    none = httpx.get(f"{base}/v1/charges")
    assert none.status_code == 401 and none.json()["error"]["message"].startswith("You did not provide an API key.")
    basic = httpx.get(f"{base}/v1/charges", auth=(sandbox.credentials.stripe_secret_key, ""))
    assert basic.status_code == 200
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_bad", base_addresses={"api": base}).v1.charges.list()


def test_every_response_carries_request_id_and_version(http):
    ok = http.get("/v1/charges", headers={"Stripe-Version": "2024-06-20"})
    assert ok.headers["Request-Id"].startswith("req_") and ok.headers["Stripe-Version"] == "2024-06-20"
    unknown = http.get("/v1/customers")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/customers).")
    assert unknown.headers["Stripe-Version"] == stripe_api.DEFAULT_API_VERSION


# --------------------------------------------------------------------------------------------- events
def test_events_types_wildcards_and_thirty_day_window(sandbox, client, http):
    world = sandbox.world
    now = epoch(world.clock)
    add_event(world, "evt_old", now - 31 * 86400, "charge.succeeded", world.stripe_charges.get("ch_0000"))
    add_event(world, "evt_a", now - 3600, "charge.succeeded", world.stripe_charges.get("ch_0001"))
    add_event(world, "evt_b", now - 1800, "charge.refunded", world.stripe_charges.get("ch_0003"))
    add_event(world, "evt_c", now - 900, "payment_intent.succeeded", world.stripe_payment_intents.get("pi_0002"))
    add_event(world, "evt_d", now - 600, "charge.dispute.created", world.stripe_disputes.get("dp_0001"))
    everything = [e.id for e in client.v1.events.list().auto_paging_iter()]
    assert everything == ["evt_d", "evt_c", "evt_b", "evt_a"]  # evt_old is past the 30 days
    assert [e.id for e in client.v1.events.list(params={"type": "charge.*"})] == ["evt_d", "evt_b", "evt_a"]
    assert [e.id for e in client.v1.events.list(params={"types": ["charge.succeeded", "payment_intent.succeeded"]})
            ] == ["evt_c", "evt_a"]  # fmt: skip
    assert http.get("/v1/events", params={"type": "charge.succeeded", "types[]": "x"}).status_code == 400
    assert http.get("/v1/events/evt_old").status_code == 404
    dispute_event = client.v1.events.retrieve("evt_d")
    assert dispute_event.data.object.object == "dispute" and dispute_event.data.object.id == "dp_0001"
    assert dispute_event.api_version == stripe_api.DEFAULT_API_VERSION
    window = client.v1.events.list(params={"created": {"gte": now - 1800, "lt": now - 600}})
    assert [e.id for e in window] == ["evt_c", "evt_b"]


# ---------------------------------------------------------------------------------------- rate limits
def test_rate_limit_429_in_stripes_shape(sandbox, base):
    sandbox.rate_limits = "real"
    now = [1000.0]
    stripe_api.state_for(sandbox).set_clock(lambda: now[0])
    headers = {"Authorization": f"Bearer {sandbox.credentials.stripe_secret_key}"}
    with httpx.Client(base_url=base, headers=headers) as c:
        codes = [c.get("/v1/charges", params={"limit": 1}).status_code for _ in range(stripe_api.TEST_MODE_RATE)]
        assert codes == [200] * stripe_api.TEST_MODE_RATE
        limited = c.get("/v1/charges")
        assert limited.status_code == 429
        err = limited.json()["error"]
        assert err["type"] == "invalid_request_error" and err["code"] == "rate_limit"
        assert limited.headers["Request-Id"].startswith("req_") and "Stripe-Should-Retry" not in limited.headers
        now[0] += 1.0  # a second later the bucket has refilled
        assert c.get("/v1/charges").status_code == 200
    assert sandbox.stats.throttled["stripe"] == 1
    now[0] += 1.0
    client = stripe.StripeClient(sandbox.credentials.stripe_secret_key, base_addresses={"api": base},
                                 max_network_retries=0)  # fmt: skip
    with pytest.raises(stripe.RateLimitError):
        for _ in range(stripe_api.TEST_MODE_RATE + 1):
            client.v1.charges.list(params={"limit": 1})


# --------------------------------------------------------------------------------------------- faults
def test_injected_faults_use_stripes_error_shape(sandbox, http):
    faults = sandbox.faults
    faults.mode, faults.error_rate, faults.throttle_rate, faults.slow_rate = "flaky", 1.0, 0.0, 0.0
    failed = http.get("/v1/charges")
    assert failed.status_code == 503 and failed.json()["error"]["type"] == "api_error"
    assert failed.headers["Request-Id"].startswith("req_")
    faults.error_rate, faults.throttle_rate = 0.0, 1.0
    throttled = http.get("/v1/charges")
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "rate_limit"


def test_repeated_boundary_and_hostile_records(sandbox, http):
    faults = sandbox.faults
    faults.mode, faults.error_rate, faults.throttle_rate, faults.slow_rate = "flaky", 0.0, 0.0, 0.0
    faults.repeat_rate = 1.0
    first = http.get("/v1/charges", params={"limit": 3}).json()["data"]
    second = http.get("/v1/charges", params={"limit": 3, "starting_after": first[-1]["id"]}).json()["data"]
    assert second[0]["id"] == first[-1]["id"]
    faults.mode, faults.repeat_rate, faults.malformed_rate = "hostile", 0.0, 1.0
    rows = http.get("/v1/charges", params={"limit": 12}).json()["data"]
    for row in rows:
        assert (row["id"] is None or row["amount"] < 0 or row["currency"] == "zzz"
                or not isinstance(row["created"], int))  # fmt: skip


# --------------------------------------------------------------------------------------------- shapes
def _nested_keys_cover(fixture: dict, rendered: dict, path: str) -> None:
    """Every fixture key is rendered; where both sides are objects, recursively."""
    missing = set(fixture) - set(rendered)
    assert not missing, f"{path}: missing {sorted(missing)}"
    for key, value in fixture.items():
        if isinstance(value, dict) and isinstance(rendered[key], dict) and key not in ("metadata", "data"):
            _nested_keys_cover(value, rendered[key], f"{path}.{key}")


def test_rendered_objects_carry_every_fixture_field(sandbox, http):
    if not FIXTURES.exists():
        pytest.skip(f"Stripe fixtures not found at {FIXTURES}")
    resources = json.loads(FIXTURES.read_text())["resources"]
    world = sandbox.world
    add_event(world, "evt_x", epoch(world.clock) - 60, "charge.succeeded", world.stripe_charges.get("ch_0003"))
    rendered = {
        "payment_intent": http.get("/v1/payment_intents/pi_0002").json(),
        "charge": http.get("/v1/charges/ch_0003").json(),
        "refund": http.get("/v1/refunds/re_0003").json(),
        "dispute": http.get("/v1/disputes/dp_0001").json(),
        "event": http.get("/v1/events/evt_x").json(),
    }
    for kind, obj in rendered.items():
        fixture = resources[kind]
        assert set(obj) == set(fixture), f"{kind}: {set(obj) ^ set(fixture)}"
        assert set(stripe_api.TEMPLATES[kind]) == set(fixture)
        _nested_keys_cover(fixture, obj, kind)
        assert obj["object"] == fixture["object"] and obj.get("livemode", False) is False
    assert set(rendered["event"]["data"]["object"]) == set(resources["charge"])
    assert set(rendered["event"]["request"]) == {"id", "idempotency_key"}
    assert rendered["charge"]["refunds"]["data"][0]["id"] == "re_0003"
    assert rendered["payment_intent"]["shipping"]["address"]["country"] == "US"
    assert rendered["payment_intent"]["next_action"] is None and rendered["charge"]["source"] is None


def test_smoke_against_a_generated_world():
    generate = pytest.importorskip("shipshape_sandbox.generate")
    world = generate.build_world(200, seed=1)
    sandbox = Sandbox(world, rate_limits="off")
    with serve(sandbox) as base:
        client = stripe.StripeClient(sandbox.credentials.stripe_secret_key, base_addresses={"api": base})
        charges = [c.id for c in client.v1.charges.list(params={"limit": 100}).auto_paging_iter()]
        assert charges == newest_first(world.stripe_charges)
        intents = [p.id for p in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()]
        assert intents == newest_first(world.stripe_payment_intents)
        horizon = epoch(world.clock) - stripe_api.EVENT_RETENTION
        events = [e.id for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
        assert events == newest_first(e for e in world.stripe_events if e.created >= horizon)
        for refund in client.v1.refunds.list(params={"limit": 100}).auto_paging_iter():
            assert refund.charge in world.stripe_charges
