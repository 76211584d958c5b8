"""Tracker ingest against the sandbox's EasyPost-style API over real HTTP and a real Postgres, through
`run_stream`. The sandbox's rate-limit bucket and the client's sleeps share a fake clock, so 429 waits
are exact and instant."""

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
from shipshape.sources.tracking import STREAMS
from shipshape.sources.tracking.client import TrackingClient
from shipshape.sources.tracking.streams import Trackers
from shipshape_sandbox import generate, lifecycle, runner
from shipshape_sandbox.apis import tracking as tracking_api
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox

SEED = 3
ORDERS = 300


@dataclass
class FakeClock:
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

    @property
    def world(self):
        return self.sandbox.world

    def stream(self) -> Trackers:
        return Trackers(retry=RetryPolicy(sleep=self.clock.sleep), clock=self.clock)

    def run(self, db: str, start, end, run_id: str, **kw):
        return run_stream(self.stream(), warehouse_url=db, interval_start=start, interval_end=end, run_id=run_id,
                          connection=self.conn, **kw)

    def current(self) -> dict[str, dict[str, Any]]:
        """Every tracker the API serves now, by id, read with the stream's own client and paging."""
        stream = self.stream()
        with stream.open_client(self.conn) as client:
            ctx = ExtractContext(Window(None, self.world.clock + timedelta(seconds=1)), None, "probe", client,
                                 logging.getLogger("probe"))
            return {t["id"]: t for page in stream.pages(ctx) for t in page if t.get("id")}


@contextmanager
def serving(world, faults: str = "none") -> Iterator[Served]:
    sandbox = Sandbox(world, faults=faults, rate_limits="real")
    clock = FakeClock()
    tracking_api.state_for(sandbox).clock = clock
    with runner.running(sandbox, apis=("tracking",)) as base_url:
        env = connection_env(base_url, sandbox.credentials.as_json())
        yield Served(sandbox, parse("tracking_default", env["AIRFLOW_CONN_TRACKING_DEFAULT"]), clock)


def table(db: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute("select source_id, payload_hash, source_updated_at, payload from raw.tracking__trackers "
                            "order by source_id, payload_hash").fetchall()


def latest(db: str) -> dict[str, dict]:
    with psycopg.connect(db) as conn:
        return dict(conn.execute(
            "select distinct on (source_id) source_id, payload from raw.tracking__trackers "
            "order by source_id, source_updated_at desc, extracted_at desc").fetchall())


@pytest.fixture
def db(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    return fresh_database


@pytest.fixture
def world():
    return generate.build_world(ORDERS, seed=SEED)


def test_streams_are_discovered():
    assert [s.key for s in STREAMS] == ["tracking.trackers"]


def test_first_run_loads_exactly_the_sandbox_despite_faults_and_a_rerun_changes_nothing(db, world):
    with serving(world, faults="flaky") as served:
        end = world.clock
        first = served.run(db, end - timedelta(hours=1), end, "first")
        rows = table(db)
        assert len({r[0] for r in rows}) == len(rows) == len(world.trackers)
        assert first.api_reported_count is None  # EasyPost reports no totals
        assert sum(served.sandbox.stats.faults_injected.values()) > 0
        assert latest(db) == served.current()

        again = served.run(db, end - timedelta(hours=1), end, "rerun")
        assert again.inserted == 0 and table(db) == rows


def test_paging_with_a_page_boundary_inside_the_window(db, world):
    """More trackers than one page in the incremental window: before_id paging crosses pages exactly."""
    with serving(world) as served:
        end = world.clock
        served.run(db, end, end, "first")
        lifecycle.advance(world, timedelta(hours=1))
        for tracker in list(world.trackers)[:150]:  # 150 scans in the next hour: two pages of the window
            lifecycle.tracker_update(world, tracker.tracking_code, "in_transit")
        lifecycle.advance(world, timedelta(minutes=10))  # the window [start, end) ends after the scans
        result = served.run(db, end, world.clock, "second")
        changed = sum(t.updated_at >= end for t in world.trackers)  # ours and the world's own scans
        in_window = sum(end - timedelta(hours=2) <= t.updated_at < world.clock for t in world.trackers)
        assert changed >= 150 and result.inserted == changed
        assert result.fetched == in_window and result.requests == -(-in_window // 100) >= 2
        assert latest(db) == served.current()


def test_updates_after_a_run_are_picked_up_by_the_next_window(db, world):
    with serving(world) as served:
        first_end = world.clock
        served.run(db, first_end - timedelta(hours=1), first_end, "r1")
        before = table(db)
        lifecycle.advance(world, timedelta(hours=3))
        delivered = next(t for t in world.trackers if t.status != "delivered")
        lifecycle.tracker_update(world, delivered.tracking_code, "delivered")
        unshipped = next(o for o in world.shopify_orders
                         if (sh := lifecycle.shiphero_order_for(world, o)) is not None
                         and not lifecycle.shiphero_has_shipment(world, sh) and sh.fulfillment_status == "pending")
        shipment = lifecycle.ship(world, unshipped)  # a new tracker
        lifecycle.advance(world, timedelta(minutes=10))  # the window [start, end) ends after the changes
        served.run(db, first_end, world.clock, "r2")
        now = latest(db)
        assert now == served.current()
        assert now[delivered.id]["status"] == "delivered" and now[delivered.id]["signed_by"] == "FRONT DOOR"
        assert shipment.labels[0].tracking_number in {t["tracking_code"] for t in now.values()}
        assert {r[:2] for r in before} <= {r[:2] for r in table(db)}  # the old version is kept
        assert len(table(db)) >= len(before) + 2


def test_hostile_records_are_quarantined_with_field_and_reason(db, world):
    with serving(world, faults="hostile") as served:
        faults = served.sandbox.faults
        bad = {t.id for t in world.trackers if faults.malformation("tracking.tracker", t.id)}
        assert bad
        served.run(db, world.clock, world.clock, "hostile", quarantine_floor=500)
        assert {r[0] for r in table(db)} == {t.id for t in world.trackers} - bad
        with psycopg.connect(db) as conn:
            quarantined = conn.execute("select record_id, field, reason, payload from raw._quarantine "
                                       "where source = 'tracking' and stream = 'trackers'").fetchall()
        by_code = {t.tracking_code: t.id for t in world.trackers}
        assert {by_code[q[3]["tracking_code"]] for q in quarantined} == bad  # a null id: known by its code
        for record_id, field_name, reason, payload in quarantined:
            assert field_name in ("id", "updated_at") and reason and payload["object"] == "Tracker"
            assert record_id is None or record_id in bad


def test_no_secret_reaches_the_logs(db, world, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):  # their own levels may have been raised by an earlier test's setup
        caplog.set_level(logging.DEBUG, logger=name)
    with serving(world, faults="flaky") as served:
        served.run(db, world.clock, world.clock, "logged")
        key = served.sandbox.credentials.tracking_api_key
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records)
    assert key not in logged


def test_429_waits_retry_after_and_no_request_fails(db, world):
    """A key allowed one request per 2 s: every 429's Retry-After is waited out, nothing fails."""
    with serving(world) as served:
        state = tracking_api.state_for(served.sandbox)
        state.buckets = Buckets(1, 0.5, clock=lambda: state.clock())
        result = served.run(db, world.clock, world.clock, "throttled")
        assert result.inserted == len(world.trackers)
        pages = -(-len(world.trackers) // 100)
        assert result.requests == pages + (pages - 1) and result.retries == pages - 1
        assert served.clock.sleeps == [2.0] * (pages - 1)
        assert served.sandbox.stats.throttled["tracking"] == pages - 1


def test_configured_pacing_avoids_429s(db, world):
    with serving(world) as served:
        state = tracking_api.state_for(served.sandbox)
        state.buckets = Buckets(1, 0.5, clock=lambda: state.clock())
        result = served.run(db, world.clock, world.clock, "paced", settings={"tracking_requests_per_second": 0.5},
                            buckets=SharedBuckets(db, clock=served.clock))
        assert result.inserted == len(world.trackers) and result.retries == 0
        assert served.sandbox.stats.throttled["tracking"] == 0
        assert served.clock.sleeps == pytest.approx([2.0] * (result.requests - 1))


def test_base_url_with_or_without_v2():
    with TrackingClient(Connection("t", host="api.easypost.com", password="k" * 12, extra={"base_path": "/v2"})) as c:
        assert c.prefix == "" and str(c.http.base_url) == "https://api.easypost.com/v2/"
    with TrackingClient(Connection("t", host="127.0.0.1", port=1, schema="http", password="k" * 12,
                                   extra={"base_path": "/tracking"})) as c:
        assert c.prefix == "/v2"


def test_created_window_mode_for_a_service_without_update_filters(db, world):
    """`tracking_window: created` (real EasyPost has no update-time filter) re-lists recent creations."""
    with serving(world) as served:
        settings = {"tracking_window": "created", "tracking_active_days": 30}
        served.run(db, world.clock, world.clock, "first", settings=settings)
        assert len(table(db)) == len(world.trackers)
        first_end = world.clock
        lifecycle.advance(world, timedelta(hours=1))
        scanned = max(world.trackers, key=lambda t: t.created_at)
        lifecycle.tracker_update(world, scanned.tracking_code, "out_for_delivery")
        lifecycle.advance(world, timedelta(minutes=10))
        served.run(db, first_end, world.clock, "second", settings=settings)
        assert latest(db)[scanned.id]["status"] == "out_for_delivery"
        assert latest(db) == served.current()
