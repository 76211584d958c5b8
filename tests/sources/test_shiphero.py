"""ShipHero ingest against the sandbox over real HTTP and a real Postgres, through `run_stream`.

Every test runs the sandbox with its real credit throttling on a fake clock that the client's sleeps
move: waits are exact and instant, so the credit arithmetic can be asserted to the second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from shipshape import warehouse
from shipshape.connections import Connection, parse
from shipshape.ingest.http import RetryPolicy
from shipshape.ingest.limits import SharedBuckets
from shipshape.ingest.runner import run_stream
from shipshape.ingest.stream import ExtractContext, Window
from shipshape.sources.shiphero import STREAMS
from shipshape.sources.shiphero.client import ShipHeroClient
from shipshape.sources.shiphero.streams import Inventory, Orders, ShipHeroStream, Shipments
from shipshape_sandbox import generate, lifecycle, runner
from shipshape_sandbox.apis import shiphero as shiphero_api
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.server import Sandbox

SEED = 3
ORDERS = 300
KINDS = {"orders": "shiphero.order", "shipments": "shiphero.shipment", "inventory": "shiphero.warehouse_product"}


@dataclass
class FakeClock:
    """The wall clock of both the sandbox's credits and tokens and the client: only sleeps move it."""

    now: float = 1_790_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Served:
    sandbox: Sandbox
    conn: Connection
    clock: FakeClock
    clients: list[ShipHeroClient] = field(default_factory=list)

    @property
    def world(self):
        return self.sandbox.world

    def streams(self) -> list[ShipHeroStream]:
        return [self.stream(type(s)) for s in STREAMS]

    def stream(self, kind: type[ShipHeroStream]) -> ShipHeroStream:
        served = self

        class Recording(kind):  # keeps the client it opens, to look at its tokens and credits
            def open_client(self, conn, transport=None):
                client = super().open_client(conn, transport)
                served.clients.append(client)
                return client

        return Recording(retry=RetryPolicy(sleep=self.clock.sleep), clock=self.clock)

    def current(self, kind: type[ShipHeroStream]) -> dict[str, dict[str, Any]]:
        """What the API serves now for a stream, by id: a full listing through the stream's own pages."""
        stream = self.stream(kind)
        with stream.open_client(self.conn) as client:
            ctx = ExtractContext(Window(None, self.world.clock), None, "probe", client, logging.getLogger("probe"))
            return {r["id"]: r for page in stream.pages(ctx) for r in page if r.get("id")}


@contextmanager
def serving(world, faults: str = "none") -> Iterator[Served]:
    sandbox = Sandbox(world, faults=faults, rate_limits="real")
    clock = FakeClock()
    shiphero_api.state_for(sandbox).clock = clock
    with runner.running(sandbox, apis=("shiphero",)) as base_url:
        env = connection_env(base_url, sandbox.credentials.as_json())
        yield Served(sandbox, parse("shiphero_default", env["AIRFLOW_CONN_SHIPHERO_DEFAULT"]), clock)


def run(served: Served, stream: ShipHeroStream, db: str, start, end, run_id: str, **kw):
    # The shared credit bucket runs on the same fake clock as the sandbox's credits.
    kw.setdefault("buckets", SharedBuckets(db, clock=served.clock))
    return run_stream(stream, warehouse_url=db, interval_start=start, interval_end=end, run_id=run_id,
                      connection=served.conn, **kw)


def table(db: str, name: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            f"select source_id, payload_hash, source_updated_at, payload from raw.shiphero__{name} "
            "order by source_id, payload_hash").fetchall()


def latest(db: str, name: str) -> dict[str, dict]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            f"select distinct on (source_id) source_id, payload from raw.shiphero__{name} "
            "order by source_id, source_updated_at desc, extracted_at desc").fetchall()
    return dict(rows)


@pytest.fixture
def db(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    return fresh_database


@pytest.fixture
def world():
    return generate.build_world(ORDERS, seed=SEED)


def world_count(world, name: str) -> int:
    return len({"orders": world.shiphero_orders, "shipments": world.shiphero_shipments,
                "inventory": world.shiphero_products}[name])


def test_first_run_loads_exactly_the_sandbox_despite_faults_and_a_rerun_changes_nothing(db, world):
    with serving(world, faults="flaky") as served:
        end = world.clock
        results = {s.name: run(served, s, db, end - timedelta(hours=1), end, "first") for s in served.streams()}
        for name in KINDS:
            rows = table(db, name)
            assert len({r[0] for r in rows}) == world_count(world, name), name
            assert len(rows) == world_count(world, name), f"{name}: one version per record on a quiet world"
        faults = served.sandbox.stats.faults_injected
        assert sum(faults.values()) > 0, "the flaky sandbox injected nothing: the test proves nothing"
        assert sum(r.retries for r in results.values()) > 0
        # Pages overlap (the walk re-anchors on the last update time, and flaky pages repeat a record):
        # more records fetched than loaded, none loaded twice.
        assert results["orders"].fetched > results["orders"].inserted == world_count(world, "orders")
        # What was loaded is exactly what the API serves.
        assert latest(db, "orders") == served.current(Orders)

        before = {name: table(db, name) for name in KINDS}
        for stream in served.streams():
            again = run(served, stream, db, end - timedelta(hours=1), end, "rerun")
            assert again.inserted == 0
        assert {name: table(db, name) for name in KINDS} == before
        with psycopg.connect(db) as conn:
            states = dict(conn.execute("select stream, cursor from ops.extraction_state where source = 'shiphero'"))
        assert set(states) == set(KINDS) and all(s["window_end"] == end.isoformat() for s in states.values())


def test_changes_after_a_run_are_picked_up_by_the_next_window(db, world):
    with serving(world) as served:
        first_end = world.clock
        for stream in served.streams():
            run(served, stream, db, first_end - timedelta(hours=1), first_end, "r1")
        before = {name: table(db, name) for name in KINDS}

        lifecycle.advance(world, timedelta(hours=3))
        # Direct changes at the new clock: a shipment (which also moves the order and its stock) and a hold.
        unshipped = next(o for o in world.shopify_orders
                         if (sh := lifecycle.shiphero_order_for(world, o)) is not None
                         and not lifecycle.shiphero_has_shipment(world, sh) and sh.fulfillment_status == "pending")
        shipment = lifecycle.ship(world, unshipped)
        held = next(sh for sh in world.shiphero_orders
                    if sh.id != shipment.order_id and not sh.holds.operator_hold and sh.fulfillment_status == "pending")
        held.holds.operator_hold = True
        lifecycle.touch_shiphero_order(world, held)
        lifecycle.advance(world, timedelta(minutes=10))  # the next interval ends after the changes

        second_end = world.clock
        for stream in served.streams():
            run(served, stream, db, first_end, second_end, "r2")

        for name, kind in (("orders", Orders), ("shipments", Shipments), ("inventory", Inventory)):
            assert latest(db, name) == served.current(kind), name
        orders = latest(db, "orders")
        assert orders[held.id]["holds"]["operator_hold"] is True
        assert orders[shipment.order_id]["fulfillment_status"] in ("fulfilled", "partially_fulfilled")
        labels = latest(db, "shipments")[shipment.id]["shipping_labels"]
        assert [label["tracking_number"] for label in labels] == [shipment.labels[0].tracking_number]
        # Old versions are kept; only changed records got a new one.
        for name in KINDS:
            assert {r[:2] for r in before[name]} <= {r[:2] for r in table(db, name)}, name
        assert len(table(db, "orders")) - len(before["orders"]) >= 2


def test_hostile_records_are_quarantined_with_field_and_reason_and_good_ones_load(db, world):
    with serving(world, faults="hostile") as served:
        faults = served.sandbox.faults
        end = world.clock
        for stream in served.streams():
            run(served, stream, db, end - timedelta(hours=1), end, "hostile", quarantine_floor=500)
        with psycopg.connect(db) as conn:
            quarantined = conn.execute(
                "select stream, record_id, field, reason, payload from raw._quarantine where source = 'shiphero'"
            ).fetchall()
        tables = {"orders": world.shiphero_orders, "shipments": world.shiphero_shipments,
                  "inventory": world.shiphero_products}
        total_bad = 0
        for name, kind in KINDS.items():
            bad = {r.id for r in tables[name] if faults.malformation(kind, r.id)}
            total_bad += len(bad)
            loaded = {r[0] for r in table(db, name)}
            assert loaded == {r.id for r in tables[name]} - bad, name
            mine = [q for q in quarantined if q[0] == name]
            # One quarantined record per malformed one (a null id can't say which, so count payloads).
            assert len({(q[1], q[2], q[3]) for q in mine}) == len(bad), name
            for _, record_id, field_name, reason, payload in mine:
                assert field_name and reason and isinstance(payload, dict)
                # the runner names a record by its id, else (a null id) by its legacy id
                assert record_id in bad or (payload["id"] is None and record_id == str(payload["legacy_id"]))
        assert total_bad >= 3
        reasons = {(q[2], q[3].split(" ")[0]) for q in quarantined}
        assert ("id", "missing") in reasons
        assert any(field_name in ("updated_at", "created_date") for field_name, _ in reasons)


def test_no_secret_reaches_the_logs(db, world, caplog):
    caplog.set_level(logging.DEBUG)
    # explicitly: a test before this one in the same worker (Airflow's or GX's logging setup) may have
    # raised these loggers' own levels, and their records are the ones most likely to carry a token
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with serving(world, faults="flaky") as served:
        end = world.clock
        for stream in served.streams():
            run(served, stream, db, end - timedelta(hours=1), end, "logged")
        creds = served.sandbox.credentials
        secrets = {creds.shiphero_password, creds.shiphero_username}
        for client in served.clients:
            secrets |= {client._access_token, client.refresh_token}
        assert None not in secrets and len(secrets) >= 4
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records), "httpx's own logs were not captured"
    for secret in secrets:
        assert secret not in logged


def test_token_is_refreshed_before_expiry_and_after_a_401(world):
    with serving(world) as served:
        stream = served.stream(Inventory)
        with stream.open_client(served.conn) as client:
            client.probe_quota = False
            quota = "query { user_quota { credits_remaining } }"

            def ask():
                return client.graphql(quota, {}, field="user_quota", cost=1)

            ask()
            stats = served.sandbox.stats.requests
            assert stats["POST /shiphero/auth/token"] == 1 and stats["POST /shiphero/auth/refresh"] == 0
            served.clock.now += shiphero_api.TOKEN_TTL - 1800  # half an hour before expiry: refreshed first
            ask()
            assert stats["POST /shiphero/auth/refresh"] == 1
            client._expires_at = float("inf")  # the client thinks its token is fine; the service disagrees
            served.clock.now += 29 * 86_400
            ask()
            assert stats["POST /shiphero/auth/refresh"] == 2 and client.retries == 1
            assert stats["POST /shiphero/auth/token"] == 1


def test_waits_for_credits_as_the_arithmetic_says_and_is_never_refused(db, world):
    """Another consumer left 150 credits: the client learns it from user_quota (1 credit), then waits
    (required - remaining) / 60 s before each 602-credit page, and ShipHero refuses nothing."""
    with serving(world) as served:
        state = shiphero_api.state_for(served.sandbox)
        bucket = state.credits[state.subject]
        bucket.refill()
        bucket.available = 150
        result = run(served, served.stream(Orders), db, world.clock, world.clock, "credits")
        assert result.inserted == world_count(world, "orders")
        assert served.sandbox.stats.throttled["shiphero"] == 0
        page = 1 + 100 * (1 + 5) + 1  # the operation, 100 orders with 5 line items each, user_quota
        pages = 3
        assert served.clock.sleeps == pytest.approx([(page - 149) / 60] + [page / 60] * (pages - 1), abs=0.0025)
        client = served.clients[-1]
        assert client.throttled == 0 and client.retries == 0
        assert client.credits.spent == pages * page


def test_code_30_waits_time_remaining_then_paces_itself(db, world):
    """A client that wrongly believes the bucket is full is refused once (code 30), corrects the shared
    bucket to the `remaining_credits` ShipHero names (0), and from then on waits exactly page / 60 s
    before each page (not the whole seconds `time_remaining` rounds to): one refusal, no failed request."""
    with serving(world) as served:
        state = shiphero_api.state_for(served.sandbox)
        bucket = state.credits[state.subject]
        bucket.refill()
        bucket.available = 0
        result = run(served, served.stream(Orders), db, world.clock, world.clock, "credits",
                     settings={"shiphero_probe_quota": False})
        assert result.inserted == world_count(world, "orders")
        page = 602
        client = served.clients[-1]
        assert served.sandbox.stats.throttled["shiphero"] == 1 == client.throttled
        assert served.clock.sleeps == pytest.approx([page / 60] * 3, abs=0.0025)
