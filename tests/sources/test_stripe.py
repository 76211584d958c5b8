"""Stripe ingest against the sandbox over real HTTP and a real Postgres, through `run_stream` (no Airflow):
complete and exact under faults, idempotent reruns, updates picked up from events, malformed records
quarantined, no secret in any log, and pacing that keeps Stripe's rate limiter from ever answering 429."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from shipshape import warehouse
from shipshape.connections import Connection, parse
from shipshape.ingest.http import ApiError, RetryPolicy
from shipshape.ingest.limits import SharedBuckets
from shipshape.ingest.runner import run_stream
from shipshape.ingest.stream import Window
from shipshape.sources.stripe import STREAMS
from shipshape.sources.stripe.client import StripeClient
from shipshape.sources.stripe.streams import Charges, plan
from shipshape_sandbox import generate, lifecycle
from shipshape_sandbox.apis import stripe as stripe_api
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import World, epoch

TABLES = {  # stream -> (world table, API path, sandbox fault kind)
    "payment_intents": ("stripe_payment_intents", "/v1/payment_intents", "stripe.payment_intent"),
    "charges": ("stripe_charges", "/v1/charges", "stripe.charge"),
    "refunds": ("stripe_refunds", "/v1/refunds", "stripe.refund"),
    "disputes": ("stripe_disputes", "/v1/disputes", "stripe.dispute"),
}
BY_NAME = {stream.name: stream for stream in STREAMS}


# ------------------------------------------------------------------------------------------------ helpers
@pytest.fixture
def db(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    return fresh_database


@contextmanager
def serve(world: World, *, faults: str = "none", rate_limits: str = "real") -> Iterator[tuple[Sandbox, Connection]]:
    """The sandbox's Stripe API on a free port, and the `stripe_default` connection pointing at it."""
    sandbox = Sandbox(world, faults=faults, rate_limits=rate_limits)
    with running(sandbox, apis=("stripe",)) as base:
        env = connection_env(base, sandbox.credentials.as_json())
        yield sandbox, parse("stripe_default", env["AIRFLOW_CONN_STRIPE_DEFAULT"])


def with_extra(conn: Connection, **extra: Any) -> Connection:
    return dataclasses.replace(conn, extra={**conn.extra, **extra})


def run(db: str, stream, conn: Connection, world: World, run_id: str, *, hours: float = 1, **kw):
    """Run `stream` for the interval ending at the world's clock; the sandbox's "now" is its clock."""
    end = world.clock
    settings = {"now": end, **kw.pop("settings", {})}
    return run_stream(stream, warehouse_url=db, interval_start=end - timedelta(hours=hours), interval_end=end,
                      run_id=run_id, connection=conn, settings=settings, **kw)


def rows(db: str, sql: str, *args: Any) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def latest(db: str, stream: str) -> dict[str, dict]:
    """What staging will see: the latest version of each object."""
    return dict(rows(db, f"select distinct on (source_id) source_id, payload from raw.stripe__{stream} "
                         "order by source_id, source_updated_at desc, extracted_at desc"))


def api_objects(sandbox: Sandbox, conn: Connection, path: str) -> dict[str, dict]:
    """Every object the API serves now, read bare (faults off for the duration)."""
    mode, sandbox.faults.mode = sandbox.faults.mode, "none"
    limits, sandbox.rate_limits = sandbox.rate_limits, "off"
    try:
        out: dict[str, dict] = {}
        headers = {"Authorization": f"Bearer {conn.password}", "Stripe-Version": stripe_api.DEFAULT_API_VERSION}
        with httpx.Client(base_url=conn.base_url, headers=headers) as http:
            params: dict[str, Any] = {"limit": 100}
            while True:
                body = http.get(path, params=params).json()
                out.update((o["id"], o) for o in body["data"])
                if not body["has_more"]:
                    return out
                params["starting_after"] = body["data"][-1]["id"]
    finally:
        sandbox.faults.mode, sandbox.rate_limits = mode, limits


def order_of(world: World, pi_id: str):
    return next(world.shopify_orders.get(oid) for oid, ids in world.order_payments.items() if pi_id in ids)


class VirtualClock:
    """Time that passes only when someone sleeps: the client's pacing and backoff, and the sandbox's buckets."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class ClockedCharges(Charges):
    """The charges stream with its client on a virtual clock (and keeping the client for inspection)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.client: StripeClient | None = None

    def open_client(self, conn, transport=None):
        self.client = StripeClient(conn, transport, clock=self.clock.now, retry=RetryPolicy(sleep=self.clock.sleep))
        return self.client


# ------------------------------------------------------------------------------------------------- tests
def test_first_run_under_faults_loads_every_object_exactly(db):
    world = generate.build_world(300, seed=11)
    with serve(world, faults="flaky") as (sandbox, conn):
        results = {s.name: run(db, s, conn, world, "r1", settings={"page_size": 20}) for s in STREAMS}
        assert sum(r.retries for r in results.values()) > 0, "flaky mode should have made the client retry"
        for name, (table, path, _) in TABLES.items():
            expected = {o.id for o in getattr(world, table)}
            loaded = rows(db, f"select source_id, count(*) from raw.stripe__{name} group by 1")
            assert {i for i, _ in loaded} == expected, name
            assert all(n == 1 for _, n in loaded), f"{name}: a first load keeps one version per object"
            # Exact: every payload is the API's own record, unaltered.
            assert latest(db, name) == api_objects(sandbox, conn, path), name
        stamps = rows(db, "select distinct source_updated_at from raw.stripe__charges")
        assert stamps == [(world.clock,)]  # list reads are stamped with the window end
        state = rows(db, "select stream, cursor from ops.extraction_state where source = 'stripe'")
        newest = max(c.created for c in world.stripe_charges)
        assert dict(state)["charges"] == {"created_max": datetime.fromtimestamp(newest, UTC).isoformat(),
                                          "events_through": world.clock.isoformat()}
    assert sandbox.stats.faults_injected, "the sandbox should have injected faults"


def test_rerunning_a_window_changes_nothing(db):
    world = generate.build_world(200, seed=12)
    with serve(world, faults="flaky") as (_, conn):
        for s in STREAMS:
            run(db, s, conn, world, "r1")
        lifecycle.advance(world, timedelta(hours=8))
        for s in STREAMS:
            run(db, s, conn, world, "r2", hours=8)
        snapshot = "select source_id, payload_hash, source_updated_at, extracted_at, run_id from raw.{} order by 1, 2"
        before = {s.name: rows(db, snapshot.format(s.table)) for s in STREAMS}
        for s in STREAMS:
            again = run(db, s, conn, world, "r2-again", hours=8)
            assert again.inserted == 0, s.name
            assert rows(db, snapshot.format(s.table)) == before[s.name], s.name


def test_updates_after_a_run_are_picked_up_from_events(db):
    world = generate.build_world(300, seed=13)
    orders = list(world.shopify_orders)
    # Two authorised, uncaptured payments, created well before the next run's window.
    held = [lifecycle.pay_with_stripe(world, order, capture=False, record_in_shopify=False) for order in orders[:2]]
    lifecycle.advance(world, timedelta(hours=3))
    with serve(world) as (sandbox, conn):
        for s in STREAMS:
            run(db, s, conn, world, "r1")
        first_end = world.clock
        lifecycle.advance(world, timedelta(hours=6))  # new orders: new objects, found by the listing
        # Changes to objects created long before the next window, which only events reveal.
        old = [pi for pi in world.stripe_payment_intents.sorted_by("created") if pi.status == "succeeded"
               and world.stripe_charges.get(pi.latest_charge).amount_refunded == 0]
        refunded, tracked, disputed = old[0], old[1], old[2]
        lifecycle.refund_in_stripe(world, refunded, 500)
        lifecycle.add_stripe_tracking(world, tracked, "ups", "1ZTESTTRACKING0001")
        lifecycle.open_dispute(world, disputed)  # the charge's `disputed` flips with no charge event
        # A capture and a tracking update in the same second: two charge events whose order is undefined.
        lifecycle.capture_stripe(world, order_of(world, held[0].id), held[0])
        lifecycle.add_stripe_tracking(world, held[0], "usps", "9400TESTTRACKING0002")
        lifecycle.void_authorizations(world, order_of(world, held[1].id))
        lifecycle.advance(world, timedelta(hours=6))
        for s in STREAMS:
            run(db, s, conn, world, "r2", hours=12)
        for name, (table, path, _) in TABLES.items():
            current = api_objects(sandbox, conn, path)
            assert set(latest(db, name)) == set(current) == {o.id for o in getattr(world, table)}, name
            assert latest(db, name) == current, f"{name}: the latest version in raw is not the API's record"
        charges = latest(db, "charges")
        assert charges[refunded.latest_charge]["amount_refunded"] == 500
        assert charges[tracked.latest_charge]["shipping"]["tracking_number"].endswith("1ZTESTTRACKING0001")
        assert charges[disputed.latest_charge]["disputed"] is True
        assert charges[held[0].latest_charge]["captured"] is True
        assert latest(db, "payment_intents")[held[1].id]["status"] == "canceled"
        versions = dict(rows(db, "select source_id, count(*) from raw.stripe__charges group by 1"))
        assert versions[refunded.latest_charge] == versions[tracked.latest_charge] == 2
        # The changed old objects came from events (stamped with the event's time) or, for the disputed
        # charge and the same-second tie, from a retrieve (stamped with the window end).
        assert sandbox.stats.requests["GET /stripe/v1/charges/{id}"] >= 2
        stamp = dict(rows(db, "select source_id, max(source_updated_at) from raw.stripe__charges group by 1"))
        assert first_end < stamp[refunded.latest_charge] < world.clock
        assert stamp[disputed.latest_charge] == world.clock


def test_malformed_records_are_quarantined_and_the_good_ones_load(db):
    world = generate.build_world(300, seed=14)
    with serve(world, faults="hostile") as (sandbox, conn):
        sandbox.faults.malformed_rate = 0.05
        for s in STREAMS:
            run(db, s, conn, world, "r1", quarantine_floor=100)
        faults = sandbox.faults
        reasons = {"null_id": "missing id", "negative_amount": "negative amount",
                   "unknown_currency": "unknown currency", "bad_timestamp": "unparseable timestamp"}
        total_bad = 0
        for name, (table, _, kind) in TABLES.items():
            bad = {o.id: faults.malformation(kind, o.id) for o in getattr(world, table)}
            bad = {i: c for i, c in bad.items() if c is not None}
            total_bad += len(bad)
            loaded = {i for (i,) in rows(db, f"select distinct source_id from raw.stripe__{name}")}
            assert loaded == {o.id for o in getattr(world, table)} - set(bad), name
            quarantined = rows(db, "select record_id, field, reason from raw._quarantine "
                                   "where source = 'stripe' and stream = %s", name)
            assert len(quarantined) == len(bad), name
            for record_id, field, reason in quarantined:
                assert field and reason
                if record_id is not None:  # a null id can only be recognised by elimination
                    assert reason.startswith(reasons[bad[record_id]]), (record_id, field, reason)
                else:
                    assert (field, reason) == ("id", "missing id")
        assert total_bad >= 10, "the seed should malform some records of every kind"
        # Incremental runs read events, which hostile mode malforms too: a malformed newest event is
        # quarantined whole (not replaced by an older event's state), the others load.
        faults.malformed_rate = 0.3
        loaded = latest(db, "charges")
        old = [pi for pi in world.stripe_payment_intents.sorted_by("created") if pi.status == "succeeded"
               and loaded.get(pi.latest_charge, {}).get("amount_refunded") == 0][:12]
        for pi in old:
            lifecycle.refund_in_stripe(world, pi, 300)
        lifecycle.advance(world, timedelta(hours=1))
        for s in STREAMS:
            run(db, s, conn, world, "r2", quarantine_floor=100)
        loaded = latest(db, "charges")
        events = {payload["data"]["object"]["id"]: (field, reason) for field, reason, payload in rows(
            db, "select field, reason, payload from raw._quarantine where run_id = 'r2' and stream = 'charges' "
                "and payload->>'object' = 'event'")}
        assert events, "some refund events should have been malformed"
        for pi in old:
            if pi.latest_charge in events:
                field, reason = events[pi.latest_charge]
                assert field in ("id", "created", "data.object.amount", "data.object.currency"), (field, reason)
                assert loaded[pi.latest_charge]["amount_refunded"] == 0  # the older version stays
            else:
                assert loaded[pi.latest_charge]["amount_refunded"] == 300


def test_no_secret_reaches_the_logs(db, caplog):
    world = generate.build_world(100, seed=15)
    with serve(world, faults="flaky") as (sandbox, conn), caplog.at_level(logging.DEBUG):
        for name in ("httpx", "httpcore", "shipshape"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        for s in STREAMS:
            run(db, s, conn, world, "r1")
        lifecycle.advance(world, timedelta(hours=12))
        for s in STREAMS:
            run(db, s, conn, world, "r2", hours=12)
        wrong = with_extra(dataclasses.replace(conn, password="sk_test_" + "9f" * 12))
        with pytest.raises(ApiError) as failed:
            run(db, BY_NAME["charges"], wrong, world, "r3")
    assert failed.value.status == 401
    secrets = [sandbox.credentials.stripe_secret_key, wrong.password]
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: GET" in logged, "httpx's own request log should have been captured"
    for secret in secrets:
        assert secret not in logged
        assert secret not in str(failed.value) and secret not in repr(conn)


def test_pacing_keeps_stripe_from_throttling(db):
    """Stripe's 429s carry no Retry-After: pacing at the documented 25 requests/s must avoid them, and
    without pacing the client must survive them by backing off. Both sides on one virtual clock."""
    world = generate.build_world(300, seed=16)
    with serve(world, rate_limits="real") as (sandbox, conn):
        clock = VirtualClock()
        stripe_api.state_for(sandbox).set_clock(clock.now)  # the sandbox's buckets refill on it
        paced = ClockedCharges(clock)
        started = clock.now()
        # The account's shared bucket on the same virtual clock as the sandbox's.
        result = run(db, paced, conn, world, "paced", settings={"page_size": 2},
                     buckets=SharedBuckets(db, clock=clock.now))
        elapsed = clock.now() - started
        assert result.requests > 50 and result.retries == 0
        assert paced.client.throttled == 0 and sandbox.stats.throttled["stripe"] == 0
        assert elapsed == pytest.approx((result.requests - 1) / 25, abs=1e-6)
        assert rows(db, "select count(distinct source_id) from raw.stripe__charges") == [(len(world.stripe_charges),)]

        # The same read unpaced (a rate far above Stripe's) is throttled, backs off exponentially, completes.
        with psycopg.connect(db) as wipe:
            wipe.execute("truncate raw.stripe__charges; delete from ops.extraction_state")
        greedy = ClockedCharges(clock)
        result = run(db, greedy, with_extra(conn, requests_per_second=1000), world, "greedy",
                     settings={"page_size": 2}, buckets=SharedBuckets(db, clock=clock.now))
        assert greedy.client.throttled > 0 and result.retries == greedy.client.throttled
        assert sandbox.stats.throttled["stripe"] == greedy.client.throttled
        assert rows(db, "select count(distinct source_id) from raw.stripe__charges") == [(len(world.stripe_charges),)]


def test_pacing_in_real_time_matches_the_configured_rate(db, monkeypatch):
    """Real clocks on both sides, with Stripe's limits shrunk to 5 requests/s so the test stays short."""
    monkeypatch.setattr(stripe_api.limits, "TEST_MODE_RATE", 5)
    monkeypatch.setattr(stripe_api.limits, "ENDPOINT_RATE", 5)
    world = generate.build_world(200, seed=17)
    with serve(world, rate_limits="real") as (sandbox, conn):
        stripe_api.state_for(sandbox).set_clock(time.monotonic)  # rebuild the buckets at 5/s
        started = time.monotonic()
        result = run(db, BY_NAME["charges"], with_extra(conn, requests_per_second=5), world, "r1",
                     settings={"page_size": 15})
        elapsed = time.monotonic() - started
    assert result.requests >= 9 and result.retries == 0 and sandbox.stats.throttled["stripe"] == 0
    assert (result.requests - 1) / 5 <= elapsed < (result.requests - 1) / 5 + 1.0


def test_streams_running_at_once_share_the_accounts_rate_and_are_never_throttled(db, monkeypatch):
    """Two Stripe streams at once (as the DAG runs them), each configured at the account's 5 requests/s:
    through the warehouse's shared bucket they send 5/s together, not 5/s each, so Stripe answers no
    429 and the pair takes as long as their requests take at 5/s. Real clocks on both sides."""
    monkeypatch.setattr(stripe_api.limits, "TEST_MODE_RATE", 5)
    monkeypatch.setattr(stripe_api.limits, "ENDPOINT_RATE", 5)
    world = generate.build_world(200, seed=17)
    with serve(world, rate_limits="real") as (sandbox, conn):
        stripe_api.state_for(sandbox).set_clock(time.monotonic)  # rebuild the buckets at 5/s
        paced = with_extra(conn, requests_per_second=5)
        results: dict[str, Any] = {}

        def ingest(name: str) -> None:
            results[name] = run(db, BY_NAME[name], paced, world, "together", settings={"page_size": 15})

        started = time.monotonic()
        threads = [threading.Thread(target=ingest, args=(name,)) for name in ("charges", "payment_intents")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    requests = sum(r.requests for r in results.values())
    assert len(results) == 2 and requests >= 18
    assert sandbox.stats.throttled["stripe"] == 0 and sum(r.retries for r in results.values()) == 0
    assert sandbox.stats.charged["stripe:requests"] == requests
    assert (requests - 1) / 5 <= elapsed < (requests - 1) / 5 + 1.5


def test_plan_chooses_listing_events_or_a_full_listing():
    end = datetime(2026, 11, 1, 12, tzinfo=UTC)
    hour = timedelta(hours=1)
    cursor = {"events_through": (end - hour).isoformat(), "created_max": (end - 10 * hour).isoformat()}
    first = plan(Window(None, end), None, end)
    assert first.full and first.events_from is None
    hourly = plan(Window(end - 3 * hour, end), cursor, end)
    assert (hourly.list_from, hourly.events_from) == (end - 3 * hour, end - 3 * hour)  # not created_max
    # A gap since the last committed run is closed: both ranges reach back to the cursor.
    gap = plan(Window(end - hour, end), {"events_through": (end - 5 * hour).isoformat()}, end)
    assert (gap.list_from, gap.events_from) == (end - 5 * hour, end - 5 * hour)
    # Changes older than Stripe's 30 days of events cannot be read from events: list everything.
    stale = plan(Window(end - hour, end), {"events_through": (end - timedelta(days=31)).isoformat()}, end)
    assert stale.full
    # A backfill of an old window that a later run already covered needs no events (they are gone).
    old_end = end - timedelta(days=40)
    backfill = plan(Window(old_end - hour, old_end), cursor, end)
    assert not backfill.full and backfill.events_from is None and backfill.list_from == old_end - hour
    # The horizon follows the API's clock, not only the window end.
    later = plan(Window(end - 3 * hour, end), cursor, end + timedelta(days=30))
    assert later.full


def test_stamps_order_event_snapshots_and_list_reads():
    """source_updated_at: an event snapshot is stamped with the event's time, a list read with the window end."""
    charge = {"id": "ch_1", "object": "charge", "created": epoch(datetime(2026, 10, 1, tzinfo=UTC)),
              "amount": 100, "amount_captured": 100, "amount_refunded": 0, "currency": "usd"}
    event = {"id": "evt_1", "object": "event", "created": 1793500000, "data": {"object": charge}}
    stream = BY_NAME["charges"]
    row = stream.to_raw(event)
    assert (row.source_id, row.source_updated_at, row.payload) == (
        "ch_1", datetime.fromtimestamp(1793500000, UTC), charge)
    from shipshape.sources.stripe.schema import Snapshot

    end = datetime(2026, 11, 1, 12, tzinfo=UTC)
    row = stream.to_raw(Snapshot(charge, end))
    assert (row.source_id, row.source_updated_at, row.payload) == ("ch_1", end, charge)
