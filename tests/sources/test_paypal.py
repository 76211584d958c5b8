"""PayPal ingest against the sandbox over real HTTP and a real Postgres, through `run_stream`.

Complete and exact under flaky faults; reruns change nothing; a refund after a run reaches the capture's
latest raw version (Transaction Search selects on the transaction date, so the capture must be reread);
tracker changes are picked up; hostile records land in quarantine with field and reason; no secret in
any log; the client waits exactly as long as PayPal's 429s say, and paces itself below the limit.

Waits are recorded instead of slept (the sandbox's flaky 429s ask for 1 s each); the rate-limit test
drives the sandbox's bucket and the client from one fake clock, so it checks the arithmetic exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg import sql

from shipshape import warehouse
from shipshape.connections import Connection, parse
from shipshape.ingest.http import RetryPolicy
from shipshape.ingest.limits import SharedBuckets
from shipshape.ingest.runner import run_stream
from shipshape.secrets import redact
from shipshape.sources.paypal import STREAMS
from shipshape.sources.paypal.client import PayPalClient
from shipshape.sources.paypal.pagination import TransactionSearch, split_range
from shipshape.sources.paypal.ratelimit import RequestPacer
from shipshape.sources.paypal.streams import PayPalStream, TrackersStream, TransactionsStream, tracker_due
from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis import paypal as paypal_api
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import PayPalRefund, World

TRANSACTIONS, TRACKERS = STREAMS
HOUR = timedelta(hours=1)


# ------------------------------------------------------------------------------------------------ helpers
class FakeClock:
    """One clock for the sandbox's rate-limit bucket and the client: sleeping moves it, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()  # the trackers stream asks from a few threads

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture
def db(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    return fresh_database


@pytest.fixture
def clients(monkeypatch) -> list[PayPalClient]:
    """The PayPal clients the streams open, each recording its waits in `client.slept` instead of sleeping."""
    opened: list[PayPalClient] = []

    def open_client(self, conn, transport=None):
        slept: list[float] = []
        client = PayPalClient(conn, transport, retry=RetryPolicy(sleep=slept.append))
        client.slept = slept
        opened.append(client)
        return client

    monkeypatch.setattr(PayPalStream, "open_client", open_client)
    return opened


@contextmanager
def serve(world: World, faults: str = "none", rate_limits: str = "off", **extra) -> Iterator[tuple[Sandbox, Connection]]:
    sandbox = Sandbox(world, faults=faults, rate_limits=rate_limits)
    with running(sandbox, apis=("paypal",)) as base:
        conn = parse("paypal_default", connection_env(base, sandbox.credentials.as_json())["AIRFLOW_CONN_PAYPAL_DEFAULT"])
        if extra:
            conn = Connection(conn.conn_id, conn.conn_type, conn.host, conn.port, conn.schema, conn.login,
                              conn.password, {**conn.extra, **extra})
        yield sandbox, conn


def run(stream, db: str, conn: Connection, end: datetime, *, start: datetime | None = None, run_id: str = "r1", **kw):
    return run_stream(stream, warehouse_url=db, interval_start=start or end - HOUR, interval_end=end, run_id=run_id,
                      connection=conn, **kw)


def query(db: str, text, params=()) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(text, params).fetchall()


def table_rows(db: str, table: str) -> set[tuple]:
    return set(query(db, sql.SQL("select source_id, payload_hash, source_updated_at, run_id from raw.{}")
                     .format(sql.Identifier(table))))


def latest(db: str, table: str) -> dict[str, dict]:
    """The version staging would take: the latest per source_id."""
    return dict(query(db, sql.SQL("select distinct on (source_id) source_id, payload from raw.{} order by source_id,"
                                  " source_updated_at desc, extracted_at desc").format(sql.Identifier(table))))


def cursor(db: str, stream: str) -> dict:
    return query(db, "select cursor from ops.extraction_state where source = 'paypal' and stream = %s", (stream,))[0][0]


def status_code(row) -> str:
    codes = paypal_api.REFUND_STATUS_CODES if isinstance(row, PayPalRefund) else paypal_api.CAPTURE_STATUS_CODES
    return codes.get(row.status, "P")


def published(world: World, cut: datetime) -> set[str]:
    """What Transaction Search serves through `cut`: balance-affecting captures and refunds (not D)."""
    return {r.id for r in (*world.paypal_captures, *world.paypal_refunds)
            if status_code(r) != "D" and r.create_time <= cut}


def trackable(world: World, cut: datetime, since: datetime) -> set[str]:
    """Trackers the trackers stream can reach: on published S/V captures initiated since `since`."""
    captures = {c.id for c in world.paypal_captures
                if status_code(c) in ("S", "V") and since <= c.create_time <= cut}
    return {t.id for t in world.paypal_trackers if t.transaction_id in captures}


def api_transactions(conn: Connection, start: datetime, end: datetime) -> dict[str, dict]:
    """Every transaction the API serves now, by id, read straight from it."""
    with PayPalClient(conn, retry=RetryPolicy(sleep=lambda s: None)) as client:
        search = TransactionSearch(client)
        return {r["transaction_info"]["transaction_id"]: r for page in search.scan(start, end) for r in page}


def api_trackers(conn: Connection, capture_ids) -> dict[str, dict]:
    with PayPalClient(conn, retry=RetryPolicy(sleep=lambda s: None)) as client:
        out = {}
        for cid in capture_ids:
            for t in client.get_json("/v1/shipping/trackers", {"transaction_id": cid})["trackers"]:
                out[f"{t['transaction_id']}-{t['tracking_number']}"] = t
        return out


def spread_world(orders: int, seed: int, days: float = 2) -> World:
    """A world whose PayPal rows are spread over time: a short history, then `days` of arrivals."""
    world = build_world(orders, seed=seed, history_days=days)
    lifecycle.advance(world, timedelta(days=days))
    return world


# ------------------------------------------------------------------------------------------------- tests
def test_first_run_loads_exactly_the_published_records_and_a_rerun_changes_nothing(db, clients, caplog):
    caplog.set_level(logging.INFO)
    world = build_world(160, seed=6)
    end = world.clock
    with serve(world, faults="flaky") as (sandbox, conn):
        sandbox.faults.repeat_rate = 0.5  # page boundaries repeat a record often: shifted pages surely happen
        settings = {"page_size": 7}  # many pages, so the flaky service repeats records across page boundaries
        first = run(TRANSACTIONS, db, conn, end, settings=settings)
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        assert cut == (end - paypal_api.PUBLISH_LAG).replace(microsecond=0)  # never past what PayPal published
        tracked = run(TRACKERS, db, conn, end)
        assert sandbox.stats.faults_injected, "the flaky sandbox injected no fault"
        assert any("repeats the previous page's last row" in r.getMessage() for r in caplog.records)

        expected = published(world, cut)
        assert {r[0] for r in table_rows(db, "paypal__transactions")} == expected
        assert len(table_rows(db, "paypal__transactions")) == len(expected)  # one version each, no duplicate
        assert first.api_reported_count == len(expected)
        trackers = trackable(world, cut, end - timedelta(days=30))
        assert trackers and {r[0] for r in table_rows(db, "paypal__trackers")} == trackers
        assert tracked.fetched == len(trackers)

        # every retry honoured the service: each 429 asked for 1 s, and no request failed for good
        waits = [w for c in clients for w in c.slept]
        assert sum(c.retries for c in clients) > 0 and 1.0 in waits
        assert first.retries + tracked.retries == sum(c.retries for c in clients)

        before = {t: table_rows(db, t) for t in ("paypal__transactions", "paypal__trackers")}
        quarantine_before = query(db, "select count(*) from raw._quarantine")
        again = [run(s, db, conn, end, run_id="r2", settings=settings) for s in STREAMS]
        assert [r.inserted for r in again] == [0, 0]
        assert {t: table_rows(db, t) for t in before} == before
        assert query(db, "select count(*) from raw._quarantine") == quarantine_before


def test_a_refund_and_tracker_changes_after_a_run_reach_the_latest_versions(db, clients):
    world = spread_world(90, seed=11)
    t0 = world.clock
    pending = next(c for c in world.paypal_captures.sorted_by("create_time") if c.status == "COMPLETED")
    pending.status = "PENDING"  # an eCheck, say: P until it settles
    world.changed()
    with serve(world) as (sandbox, conn):
        for stream in STREAMS:
            run(stream, db, conn, t0)
        cut0 = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        loaded = latest(db, "paypal__transactions")
        assert loaded[pending.id]["transaction_info"]["transaction_status"] == "P"
        # A capture loaded days ago is now refunded in full; a tracker is delivered; a tracker is added.
        capture = next(c for c in world.paypal_captures.sorted_by("create_time")
                       if c.status == "COMPLETED" and c.id in loaded and c.create_time < cut0 - timedelta(days=1))
        refund = lifecycle.refund_in_paypal(world, capture, capture.amount)
        tracker = next(t for t in world.paypal_trackers if t.transaction_id in loaded)
        tracker.status, tracker.update_time = "DELIVERED", world.clock
        bare = next(c for c in world.paypal_captures.sorted_by("create_time") if c.id in loaded
                    and c.status == "COMPLETED" and not any(t.transaction_id == c.id for t in world.paypal_trackers))
        added = lifecycle.add_paypal_tracker(world, bare, "ups", "1Z999AA10123456784")
        pending.status, pending.update_time = "COMPLETED", world.clock  # settles; no new row says so
        world.changed()
        assert loaded[capture.id]["transaction_info"]["transaction_status"] == "S"

        lifecycle.advance(world, 4 * HOUR)  # orders keep coming; PayPal publishes what happened by t0 + 1 h
        end = world.clock
        result = run(TRANSACTIONS, db, conn, end, run_id="r2")
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        assert cut == t0 + HOUR and result.inserted > 0

        now = latest(db, "paypal__transactions")
        assert refund.id in now
        assert now[capture.id]["transaction_info"]["transaction_status"] == "V"  # reread, though initiated days ago
        assert now[pending.id]["transaction_info"]["transaction_status"] == "S"  # pending rows are reread until settled
        assert set(now) == published(world, cut)
        current = api_transactions(conn, end - timedelta(days=30), cut)
        settled = {r.id for r in (*world.paypal_captures, *world.paypal_refunds) if r.update_time <= cut}
        for tid in settled & set(current):
            assert now[tid] == current[tid], f"raw's latest {tid} differs from the API's"

        run(TRACKERS, db, conn, end, run_id="r2")
        trackers = latest(db, "paypal__trackers")
        assert trackers[tracker.id]["status"] == "DELIVERED"
        assert added.id in trackers
        assert set(trackers) == trackable(world, cut, end - timedelta(days=30))
        assert trackers == api_trackers(conn, {t["transaction_id"] for t in trackers.values()})


def test_hostile_records_are_quarantined_with_field_and_reason_and_the_rest_load(db, clients):
    world = build_world(2000, seed=11)  # malformed: every kind, on captures and on refunds
    end = world.clock
    with serve(world, faults="hostile") as (sandbox, conn):
        result = run(TRANSACTIONS, db, conn, end)
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        rows = {r.id: r for r in (*world.paypal_captures, *world.paypal_refunds) if r.id in published(world, cut)}
        bad = {tid: kind for tid in rows if (kind := sandbox.faults.malformation("paypal.transaction", tid))}
        assert set(bad.values()) == {"null_id", "negative_amount", "unknown_currency", "bad_timestamp"}

        assert {r[0] for r in table_rows(db, "paypal__transactions")} == set(rows) - set(bad)
        quarantined = query(db, "select record_id, field, reason, payload from raw._quarantine "
                                "where source = 'paypal' and stream = 'transactions'")
        assert len(quarantined) == len(bad) == result.quarantined
        by_id = {rid: (field, reason) for rid, field, reason, _ in quarantined if rid is not None}
        for tid, kind in bad.items():
            refund = isinstance(rows[tid], PayPalRefund)
            if kind == "null_id" or (kind == "negative_amount" and refund):  # a refund is already negative
                assert any(p["transaction_info"]["transaction_id"] is None and p["transaction_info"][
                    "transaction_initiation_date"] == paypal_api.iso(rows[tid].create_time)
                    for rid, field, _, p in quarantined if field == "transaction_info.transaction_id")
                continue
            field, reason = by_id[tid]
            assert (field, reason.split(" ")[0]) == {
                "negative_amount": ("transaction_info.transaction_amount.value", "negative"),
                "unknown_currency": ("transaction_info.transaction_amount.currency_code", "unknown"),
                "bad_timestamp": ("transaction_info.transaction_updated_date", "unparseable"),
            }[kind]


def test_no_secret_in_any_log(db, clients, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    world = build_world(60, seed=2)
    with serve(world, faults="flaky") as (sandbox, conn):
        for stream in STREAMS:
            run(stream, db, conn, world.clock)
        tokens = {c.token for c in clients}
        assert all(tokens) and any("HTTP Request" in r.getMessage() for r in caplog.records)
        secrets = {sandbox.credentials.paypal_client_id, sandbox.credentials.paypal_client_secret, *tokens}
        for secret in secrets - {sandbox.credentials.paypal_client_id}:
            assert redact(f"x {secret} y") == "x *** y"  # registered for masking wherever it is logged
        text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
        for secret in secrets:
            assert secret not in text


def test_a_refused_token_is_replaced_once(db):
    world = build_world(30, seed=3)
    with serve(world) as (sandbox, conn):
        with PayPalClient(conn) as client:
            client.get_json("/v1/shipping/trackers", {"transaction_id": next(iter(world.paypal_captures)).id})
            good = client.token
            client.token = "A21AA" + "x" * 90  # revoked behind our back: PayPal answers 401 invalid_token
            client.get_json("/v1/shipping/trackers", {"transaction_id": next(iter(world.paypal_captures)).id})
            assert client.tokens_obtained == 2 and client.token == good  # PayPal hands out the live token again


def test_throttled_by_paypal_the_client_waits_what_retry_after_says_and_no_request_fails(db, monkeypatch):
    """Real rate limits, shrunk to 4 requests a second (burst 4) on one fake clock: the unpaced client is
    answered 429 RATE_LIMIT_REACHED, waits exactly each Retry-After, and every request gets through."""
    clock = FakeClock()
    monkeypatch.setattr(paypal_api.settings, "RATE_PER_SECOND", 4.0)
    monkeypatch.setattr(paypal_api.settings, "RATE_BURST", 4.0)
    monkeypatch.setattr(paypal_api.api, "Buckets", lambda capacity, rate: Buckets(capacity, rate, clock=clock))
    retry_after: list[float] = []

    def open_client(self, conn, transport=None):
        client = PayPalClient(conn, transport, retry=RetryPolicy(sleep=clock.sleep), clock=clock)
        client.http.event_hooks["response"].append(
            lambda r: retry_after.append(float(r.headers["Retry-After"])) if r.status_code == 429 else None)
        return client

    monkeypatch.setattr(PayPalStream, "open_client", open_client)
    world = build_world(80, seed=4)
    with serve(world, rate_limits="real", requests_per_second=0) as (sandbox, conn):  # 0: no client-side pacing
        run(TRANSACTIONS, db, conn, world.clock, settings={"history_days": 40})
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        result = run(TRACKERS, db, conn, world.clock)
        assert result.fetched == len(trackable(world, cut, world.clock - timedelta(days=30)))
        assert sandbox.stats.throttled["paypal"] == len(retry_after) > 5
        assert sorted(clock.slept) == sorted(retry_after)  # waited exactly what PayPal said, no more, no less

    # The same run paced at PayPal's rate: not one 429.
    clock.slept.clear()
    with serve(world, rate_limits="real", requests_per_second=4) as (sandbox, conn):
        # one request in flight, so the fake clock's arithmetic is exact
        result = run(TRACKERS, db, conn, world.clock, run_id="r2",
                     settings={"tracker_recent_days": 30, "tracker_concurrency": 1},
                     buckets=SharedBuckets(db, clock=clock))
        assert sandbox.stats.throttled["paypal"] == 0 and result.retries == 0
        # after the burst of 4, one request every 1/4 s: the pacer's waits add up to that
        assert sum(clock.slept) == pytest.approx((result.requests - 4) / 4, abs=0.3)


class SlowTransport(httpx.HTTPTransport):
    """A PayPal that takes 30 ms an answer, as a remote service does (the loopback sandbox takes ~1 ms)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(0.03)
        return super().handle_request(request)


def test_a_slow_paypal_is_asked_for_trackers_from_a_few_threads_with_the_same_result(db, clients, caplog):
    caplog.set_level(logging.INFO)
    world = build_world(120, seed=8)
    with serve(world, faults="flaky") as (sandbox, conn):
        run(TRANSACTIONS, db, conn, world.clock, settings={"history_days": 40})
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        result = run(TRACKERS, db, conn, world.clock, transport=SlowTransport())
        assert any("at a time" in r.getMessage() for r in caplog.records)
        expected = trackable(world, cut, world.clock - timedelta(days=30))
        assert {r[0] for r in table_rows(db, "paypal__trackers")} == expected and result.fetched == len(expected)


def test_resultset_too_large_splits_the_range_and_loses_nothing(db, clients, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    world = spread_world(60, seed=9)
    rows = [r for r in (*world.paypal_captures, *world.paypal_refunds) if status_code(r) != "D"]
    same_instant = max(sum(1 for r in rows if r.create_time == s.create_time) for s in rows)
    monkeypatch.setattr(paypal_api.settings, "MAX_RESULT_ITEMS", max(same_instant, len(rows) // 5))
    with serve(world) as (sandbox, conn):
        result = run(TRANSACTIONS, db, conn, world.clock)
        cut = datetime.fromisoformat(cursor(db, "transactions")["complete_through"])
        assert {r[0] for r in table_rows(db, "paypal__transactions")} == published(world, cut)
        assert result.api_reported_count == len(published(world, cut))
        assert sum("splitting the range in halves" in r.getMessage() for r in caplog.records) >= 2


def test_windows_are_cut_at_31_days_without_gap_or_overlap():
    start = datetime.fromisoformat("2023-11-02T12:00:00+00:00")
    end = datetime.fromisoformat("2026-11-01T12:00:00+00:00")
    ranges = list(split_range(start, end))
    assert ranges[0][0] == start and ranges[-1][1] == end and len(ranges) == 36
    assert all(b - a <= timedelta(days=31) for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))


def test_older_captures_are_asked_once_per_cycle_whatever_the_schedule():
    end = datetime.fromisoformat("2026-11-10T00:00:00+00:00")
    old = [(f"CAPTURE{i:05d}", end - timedelta(days=20)) for i in range(500)]
    recent = ("RECENT", end - timedelta(days=1))
    cycle = timedelta(hours=24)

    def due(cid, initiated, at, previous):
        return tracker_due(cid, initiated, end=at, recent_since=at - timedelta(days=7), previous_end=previous,
                           cycle=cycle)

    for step in (HOUR, 3 * HOUR, timedelta(minutes=20), timedelta(minutes=90)):
        asked = {cid: 0 for cid, _ in old}
        at, previous = end, end - step
        while at <= end + cycle - step / 2:
            for cid, initiated in old:
                asked[cid] += due(cid, initiated, at, previous)
            assert due(*recent, at, previous)  # recent captures every run
            previous, at = at, at + step
        assert set(asked.values()) == {1}, f"every {step}: each older capture once a day"
        per_run = sum(due(cid, i, end + step, end) for cid, i in old)
        assert per_run < 500 * step / cycle * 2  # spread evenly, not all at once
    assert all(due(cid, i, end, None) for cid, i in old)  # a first run asks all


def test_pacer_arithmetic():
    clock = FakeClock()
    pacer = RequestPacer(4.0, clock=clock)
    delays = []
    for _ in range(12):
        delay = pacer.delay()
        delays.append(delay)
        clock.sleep(delay)
    assert delays[:4] == [0.0] * 4 and delays[4:] == [pytest.approx(0.25)] * 8
    assert RequestPacer(0).delay() == 0.0


def test_streams_are_registered():
    assert isinstance(TRANSACTIONS, TransactionsStream) and isinstance(TRACKERS, TrackersStream)
    assert (TRANSACTIONS.table, TRACKERS.table) == ("paypal__transactions", "paypal__trackers")
    assert {s.conn_id for s in STREAMS} == {"paypal_default"}
