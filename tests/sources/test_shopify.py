"""The Shopify streams against the sandbox over real HTTP and a real Postgres, through `run_stream`.

A first load (a Bulk Operation) copies exactly the world; paging the same history gives byte-identical
payloads (nothing new is inserted); reruns change nothing; updates reach raw on the next run; malformed
records are quarantined; no secret is logged; and the cost-based throttling waits exactly as long as
Shopify's bucket requires, with no THROTTLED answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import httpx
import psycopg
import pytest

from shipshape import warehouse
from shipshape.connections import Connection, parse
from shipshape.ingest.http import ApiError, RetryPolicy
from shipshape.ingest.limits import SharedBuckets
from shipshape.ingest.runner import run_stream
from shipshape.sources.shopify import STREAMS, InventoryItemsStream, OrdersStream
from shipshape.sources.shopify.bulk import BulkFormatError, BulkOperationFailed, Reassembler
from shipshape.sources.shopify.client import DEFAULT_API_VERSION, ShopifyClient
from shipshape.sources.shopify.pagination import Pager
from shipshape.sources.shopify.queries import ORDER, ORDERS, search_query, shrink
from shipshape_sandbox import generate, lifecycle
from shipshape_sandbox.apis import shopify as sandbox_shopify
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import SHOPIFY_API_VERSION, Sandbox
from shipshape_sandbox.world import World

HOUR = timedelta(hours=1)


# ------------------------------------------------------------------------------------------ helpers
@pytest.fixture
def db(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    return fresh_database


@contextmanager
def served(world: World, *, faults: str = "none", rate_limits: str = "real",
           bucket: dict | None = None) -> Iterator[tuple[Sandbox, Connection]]:
    """The world's Shopify API on a free port, and the `shopify_default` connection pointing at it."""
    sandbox = Sandbox(world, faults=faults, rate_limits=rate_limits)
    if bucket:
        sandbox_shopify.configure(sandbox, **bucket)
    with running(sandbox, apis=("shopify",)) as base:
        env = connection_env(base, sandbox.credentials.as_json())
        yield sandbox, parse("shopify_default", env["AIRFLOW_CONN_SHOPIFY_DEFAULT"])


class FastSleep:
    """Records every wait asked for and sleeps a token amount, so flaky runs (Retry-After: 1) stay quick."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(seconds, 0.005))


def fast(stream_class, sleep: FastSleep | None = None):
    return stream_class(retry=RetryPolicy(sleep=sleep or FastSleep()))


def run(db: str, stream, conn: Connection, end, run_id: str, **kwargs):
    return run_stream(stream, warehouse_url=db, interval_start=end - HOUR, interval_end=end, run_id=run_id,
                      connection=conn, **kwargs)


def rows(db: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(query, args).fetchall()


def snapshot(db: str, table: str) -> list[tuple]:
    return rows(db, f"select source_id, payload_hash, source_updated_at, extracted_at, run_id from raw.{table} "
                    "order by source_id, payload_hash")


def latest(db: str, table: str, source_id: str) -> dict:
    return rows(db, f"select payload from raw.{table} where source_id = %s "
                    "order by source_updated_at desc, extracted_at desc limit 1", source_id)[0][0]


def order_ids(world: World) -> list[str]:
    return sorted(order.gid for order in world.shopify_orders)


def item_ids(world: World) -> list[str]:
    return sorted(f"gid://shopify/InventoryItem/{item.id}" for item in world.shopify_inventory_items)


def test_the_package_exports_both_streams_on_the_default_connection():
    assert [(s.key, s.table, s.conn_id) for s in STREAMS] == [
        ("shopify.orders", "shopify__orders", "shopify_default"),
        ("shopify.inventory_items", "shopify__inventory_items", "shopify_default")]
    assert DEFAULT_API_VERSION == SHOPIFY_API_VERSION


# ------------------------------------------------------------------------------- 1. first load
def test_first_load_under_flaky_faults_copies_exactly_the_world_and_paging_agrees(db, caplog):
    caplog.set_level(logging.INFO)
    world = generate.build_world(300, seed=5)
    sleep = FastSleep()
    with served(world, faults="flaky") as (sandbox, conn):
        end = world.clock
        orders = run(db, fast(OrdersStream, sleep), conn, end, "first")
        items = run(db, fast(InventoryItemsStream, sleep), conn, end, "first")
        # The same whole history again, paged (small pages so flaky repeats a record across pages, and
        # small nested pages so line items need follow-up queries): not one new version.
        paged = run(db, fast(OrdersStream, sleep), conn, end, "paged", lookback=timedelta(days=60),
                    settings={"bulk": False, "page_size": 40, "nested_page_size": 2})
        paged_items = run(db, fast(InventoryItemsStream, sleep), conn, end, "paged", lookback=timedelta(days=60),
                          settings={"bulk": False, "page_size": 20})
    assert (orders.api_reported_count, items.api_reported_count) == (300, len(world.shopify_inventory_items))
    assert (orders.inserted, items.inserted) == (300, len(world.shopify_inventory_items))
    assert (paged.inserted, paged_items.inserted) == (0, 0)
    assert paged.fetched >= 300 and paged.api_reported_count is None
    assert [r[0] for r in rows(db, "select source_id from raw.shopify__orders order by 1")] == order_ids(world)
    assert [r[0] for r in rows(db, "select source_id from raw.shopify__inventory_items order by 1")] == item_ids(world)
    # the faults really happened, and every 429 was waited out for its Retry-After (1 s)
    assert sum(sandbox.stats.faults_injected.values()) > 0
    assert orders.retries + items.retries + paged.retries + paged_items.retries > 0
    throttle_waits = [r.getMessage() for r in caplog.records if "HTTP 429" in r.getMessage()]
    assert all("waiting 1.00 s" in message for message in throttle_waits)
    state = rows(db, "select cursor from ops.extraction_state where source = 'shopify' and stream = 'orders'")[0][0]
    assert state["window_end"] == end.isoformat() and state["mode"] == "paged"


# ------------------------------------------------------------------------------------- 2. rerun
def test_rerunning_a_window_changes_nothing(db):
    world = generate.build_world(200, seed=7)
    with served(world) as (_, conn):
        end = world.clock
        for stream in (OrdersStream(), InventoryItemsStream()):
            run(db, stream, conn, end, "r1")  # first load: bulk
            run(db, stream, conn, end, "r2")  # the scheduled run of the same interval: paged
            before = snapshot(db, stream.table)
            again = run(db, stream, conn, end, "r3")
            assert again.inserted == 0 and again.quarantined == 0
            assert snapshot(db, stream.table) == before
            assert {r[4] for r in before} == {"r1"}  # versions keep the run that first extracted them


# --------------------------------------------------------------------------------- 3. updates
def test_an_update_reaches_raw_on_the_next_run_as_the_api_now_serves_it(db):
    world = generate.build_world(200, seed=9)
    with served(world) as (_, conn):
        start = world.clock
        run(db, OrdersStream(), conn, start, "r1")
        run(db, InventoryItemsStream(), conn, start, "r1")
        edited, cancelled = sorted(world.shopify_orders, key=lambda o: o.id)[:2]
        item = sorted(world.shopify_inventory_items, key=lambda i: i.id)[0]
        location = next(loc for loc in world.shopify_locations if loc.fulfillment_service_handle)
        lifecycle.advance(world, timedelta(minutes=20))
        address = replace(edited.shipping_address, address1="500 Changed Street", zip="10001")
        lifecycle.edit_address(world, edited, address, propagate=False)
        lifecycle.cancel_order(world, cancelled, reason="CUSTOMER")
        lifecycle.set_shopify_available(world, item.id, location.id, 4)
        lifecycle.advance(world, timedelta(hours=3) - timedelta(minutes=20))  # new orders arrive too
        end = world.clock
        for hour in range(3):  # three hourly runs cover the change and the arrivals
            orders = run(db, OrdersStream(), conn, start + (hour + 1) * HOUR, f"h{hour}")
            items = run(db, InventoryItemsStream(), conn, start + (hour + 1) * HOUR, f"h{hour}")
        assert orders.window.endswith(f"{end.isoformat()})")
        with ShopifyClient.from_connection(conn) as client:
            pager = Pager(client, ORDERS)
            current = {o.gid: next(pager.pages(f"id:{o.id}"))[0] for o in (edited, cancelled)}
            inventory = next(Pager(client, InventoryItemsStream.root).pages(f"id:{item.id}"))[0]
    assert current[edited.gid]["shippingAddress"]["address1"] == "500 Changed Street"
    assert current[cancelled.gid]["cancelledAt"] is not None
    assert latest(db, "shopify__orders", edited.gid) == current[edited.gid]
    assert latest(db, "shopify__orders", cancelled.gid) == current[cancelled.gid]
    assert latest(db, "shopify__inventory_items", inventory["id"]) == inventory
    versions = rows(db, "select count(*) from raw.shopify__orders where source_id = %s", edited.gid)[0][0]
    assert versions == 2  # the first load's version is kept; staging takes the latest
    assert [r[0] for r in rows(db, "select distinct source_id from raw.shopify__orders order by 1")] == order_ids(world)
    assert items.fetched >= 1


def test_missed_runs_leave_no_gap_the_next_window_reaches_back_to_the_last_one_read(db, caplog):
    caplog.set_level(logging.WARNING)
    world = generate.build_world(100, seed=9)
    with served(world) as (_, conn):
        start = world.clock
        run(db, OrdersStream(), conn, start, "r1")
        lifecycle.advance(world, HOUR)
        order = sorted(world.shopify_orders, key=lambda o: o.id)[0]
        lifecycle.cancel_order(world, order, reason="FRAUD")  # at start + 1 h
        lifecycle.advance(world, 5 * HOUR)
        # Runs for start+1h … start+5h never happened; this one's own interval is [start+5h, start+6h).
        result = run(db, OrdersStream(), conn, start + 6 * HOUR, "r6")
    assert "the gap is closed" in caplog.text
    # the runner reads from the high-water mark (r1's end, `start`) minus the lookback
    assert result.window_start == (start - 2 * HOUR).isoformat()
    assert latest(db, "shopify__orders", order.gid)["cancelReason"] == "FRAUD"


# -------------------------------------------------------------------------------- 4. hostile
EXPECTED_FIELD = {"null_id": "id", "negative_amount": "totalPriceSet.shopMoney.amount",
                  "unknown_currency": "currencyCode", "bad_timestamp": "updatedAt"}


def test_hostile_records_are_quarantined_with_field_and_reason_and_the_rest_load(db):
    world = generate.build_world(400, seed=40)
    with served(world, faults="hostile") as (sandbox, conn):
        picked = {o.gid: sandbox.faults.malformation("shopify.order", o.gid) for o in world.shopify_orders}
        picked = {gid: kind for gid, kind in picked.items() if kind}
        assert set(picked.values()) == set(EXPECTED_FIELD)  # the seed malforms one order of each kind
        end = world.clock
        first = run(db, fast(OrdersStream), conn, end, "first")
        paged = run(db, fast(OrdersStream), conn, end, "paged", lookback=timedelta(days=60),
                    settings={"bulk": False})
    assert (first.fetched, first.quarantined, first.inserted) == (400, len(picked), 400 - len(picked))
    assert (paged.inserted, paged.quarantined) == (0, len(picked))  # the same records, the same failures
    loaded = {r[0] for r in rows(db, "select source_id from raw.shopify__orders")}
    assert loaded == set(order_ids(world)) - set(picked)
    quarantined = rows(db, "select record_id, field, reason, payload from raw._quarantine "
                           "where source = 'shopify' and stream = 'orders'")
    assert len(quarantined) == len(picked)  # the paged run's identical failures were not added again
    by_field = {field: (record_id, reason, payload) for record_id, field, reason, payload in quarantined}
    assert set(by_field) == set(EXPECTED_FIELD.values())
    for gid, kind in picked.items():
        record_id, reason, payload = by_field[EXPECTED_FIELD[kind]]
        assert reason
        if kind == "null_id":
            assert record_id is None and payload["id"] is None and payload["legacyResourceId"] == gid.rsplit("/", 1)[1]
        else:
            assert record_id == gid == payload["id"]
        assert payload["lineItems"]["nodes"]  # quarantined whole, children reassembled too


# -------------------------------------------------------------------------------- 5. secrets
class Recording(httpx.BaseTransport):
    """A transport that remembers each request's method, URL and headers."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, httpx.Headers]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, str(request.url), request.headers))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_no_secret_is_logged_and_the_token_goes_only_to_the_admin_api(db, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    world = generate.build_world(150, seed=21)
    transport = Recording()
    with served(world, faults="flaky") as (sandbox, conn):
        token = sandbox.credentials.shopify_access_token
        run(db, fast(OrdersStream), conn, world.clock, "r1", transport=transport)
        with pytest.raises(ApiError) as failure:  # a wrong token: the error names no secret either
            run(db, fast(OrdersStream), replace(conn, password="shpat_wrong_token_0123456789"), world.clock,
                "r2", transport=transport)
    assert "401" in str(failure.value)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records)
    for secret in (token, "shpat_wrong_token_0123456789"):
        assert secret not in logged
        assert secret not in str(failure.value)
    posts = [headers for method, _, headers in transport.seen if method == "POST"]
    downloads = [(url, headers) for method, url, headers in transport.seen if method == "GET"]
    assert posts and downloads and all("/_bulk/" in url for url, _ in downloads)
    assert all(h.get("x-shopify-access-token") in (token, "shpat_wrong_token_0123456789") for h in posts)
    assert all("x-shopify-access-token" not in h for _, h in downloads)


# ---------------------------------------------------------------------------------- 6. throttling
class FakeTime:
    """One clock for the sandbox's bucket and the client: it moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class CostLog(httpx.BaseTransport):
    """Keeps every GraphQL answer's cost extension (and counts THROTTLED answers)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.costs: list[dict] = []
        self.throttled = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        answer = json.loads(body)
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in answer.get("errors") or []):
            self.throttled += 1
        elif "cost" in (answer.get("extensions") or {}):
            self.costs.append(answer["extensions"]["cost"])
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def close(self) -> None:
        self.inner.close()


def test_paging_waits_exactly_as_long_as_the_cost_bucket_requires(db):
    world = generate.build_world(300, seed=3)
    fake, capacity, rate = FakeTime(), 400.0, 20.0
    costs = CostLog()
    with served(world, bucket={"capacity": capacity, "restore_rate": rate, "clock": fake.clock}) as (sandbox, conn):
        stream = OrdersStream(clock=fake.clock, retry=RetryPolicy(sleep=fake.sleep))
        result = run(db, stream, conn, world.clock, "r1", transport=costs, settings={"bulk": False, "page_size": 50},
                     buckets=SharedBuckets(db, clock=fake.clock))
    assert result.inserted == 300 and result.requests == len(costs.costs) == 6
    assert costs.throttled == 0 and sandbox.stats.throttled["shopify"] == 0
    # The least total wait any client could get away with: before request k the bucket must hold its
    # requested cost, and it holds at most capacity − (actual costs so far) + rate × (time waited so far).
    spent, least = 0.0, 0.0
    for cost in costs.costs:
        least = max(least, (cost["requestedQueryCost"] - capacity + spent) / rate)
        spent += cost["actualQueryCost"]
    waited = sum(fake.slept)
    assert least > 1.0  # the bucket really was the limit
    # Shopify reports whole points available, and waits are rounded up to the millisecond, so each wait
    # may be up to one point (1/rate s) and a millisecond long.
    # The shared bucket also keeps half a second of restore in hand (a reservation made on a full bucket
    # lands a moment later, when Shopify capped that restore away): at most 0.5 s more, once.
    assert least <= waited <= least + 0.5 + len(fake.slept) * (1 / rate + 0.001)


def test_a_throttled_request_is_repeated_after_exactly_the_wait_shopifys_figures_imply():
    world = generate.build_world(50, seed=3)
    fake = FakeTime()
    with served(world, bucket={"capacity": 1000.0, "restore_rate": 50.0, "clock": fake.clock}) as (sandbox, conn):
        with ShopifyClient.from_connection(conn, clock=fake.clock, retry=RetryPolicy(sleep=fake.sleep)) as client:
            pager = Pager(client, ORDERS, page_size=100)
            assert len(next(pager.pages(search_query(None, world.clock)))) == 50
            assert fake.slept == []
            # Another client of the same app drains the bucket behind our back: our estimate is stale.
            sandbox_shopify.api_for(sandbox).bucket(sandbox.credentials.shopify_access_token).available = 10.0
            assert len(next(pager.pages(search_query(None, world.clock)))) == 50
            requested = client._costs[(pager.query, 100)]
    assert sandbox.stats.throttled["shopify"] == 1 and client.throttled == 1
    exact = (requested - 10.0) / 50.0
    assert len(fake.slept) == 1 and exact <= fake.slept[0] <= exact + 0.001 + 1e-9  # rounded up to the ms


def test_a_page_that_costs_more_than_the_bucket_holds_is_asked_for_in_smaller_pages(db):
    world = generate.build_world(120, seed=3)
    with served(world, bucket={"capacity": 300.0, "restore_rate": 1000.0}) as (_, conn):
        result = run(db, fast(OrdersStream), conn, world.clock, "r1", settings={"bulk": False})
    assert result.inserted == 120


# ------------------------------------------------------------------------- bulk and its parts
def test_bulk_reassembly_nests_children_under_their_parent_and_refuses_ungrouped_files():
    lines = [
        {"id": "gid://shopify/Order/1", "fulfillments": [{"id": "gid://shopify/Fulfillment/9",
                                                          "fulfillmentLineItems": {"edges": []}}]},
        {"id": "gid://shopify/LineItem/11", "sku": "A", "__parentId": "gid://shopify/Order/1"},
        {"id": "gid://shopify/FulfillmentLineItem/91", "quantity": 1, "__parentId": "gid://shopify/Fulfillment/9"},
        {"id": "gid://shopify/Order/2", "fulfillments": []},
    ]
    reassembler = Reassembler(ORDER)
    done = [record for line in lines if (record := reassembler.feed(dict(line))) is not None]
    done.append(reassembler.finish())
    assert done == [
        {"id": "gid://shopify/Order/1", "lineItems": {"nodes": [{"id": "gid://shopify/LineItem/11", "sku": "A"}]},
         "fulfillments": [{"id": "gid://shopify/Fulfillment/9", "fulfillmentLineItems": {
             "nodes": [{"id": "gid://shopify/FulfillmentLineItem/91", "quantity": 1}]}}]},
        {"id": "gid://shopify/Order/2", "lineItems": {"nodes": []}, "fulfillments": []},
    ]
    reassembler = Reassembler(ORDER)
    for line in lines[:1] + lines[3:]:
        reassembler.feed(dict(line))
    with pytest.raises(BulkFormatError, match="not grouped"):
        reassembler.feed(dict(lines[1]))


def test_windows_widen_to_whole_seconds_and_pages_shrink_at_least_by_half():
    end = generate.DEFAULT_START + timedelta(microseconds=1)
    assert search_query(end - HOUR, end) == ("updated_at:>='2026-11-01T11:00:00Z' AND "
                                             "updated_at:<'2026-11-01T12:00:01Z'")
    assert search_query(None, generate.DEFAULT_START) == "updated_at:<'2026-11-01T12:00:00Z'"
    assert shrink(250, 486, 1000) == 125 and shrink(250, 4000, 1000) == 62 and shrink(1, 5000, 1000) is None


def test_a_failed_bulk_operation_fails_the_run_and_loads_nothing(db):
    def answer(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        cost = {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1, "throttleStatus": {
            "maximumAvailable": 2000.0, "currentlyAvailable": 1999, "restoreRate": 100.0}}}
        if "currentBulkOperation" in query:
            data = {"currentBulkOperation": None}
        elif "bulkOperationRunQuery" in query:
            data = {"bulkOperationRunQuery": {"bulkOperation": {"id": "gid://shopify/BulkOperation/1",
                                                                "status": "CREATED"}, "userErrors": []}}
        else:
            data = {"node": {"id": "gid://shopify/BulkOperation/1", "status": "FAILED", "errorCode": "TIMEOUT",
                             "objectCount": "0", "rootObjectCount": "0", "fileSize": None, "url": None, "query": ""}}
        return httpx.Response(200, json={"data": data, "extensions": cost})

    conn = Connection("shopify_default", "http", "shop.example", password="shpat_0123456789abcdef",
                      extra={"api_version": "2025-10"})
    with pytest.raises(BulkOperationFailed, match="FAILED.*TIMEOUT"):
        run(db, OrdersStream(), conn, generate.DEFAULT_START, "r1", transport=httpx.MockTransport(answer))
    assert rows(db, "select count(*) from raw.shopify__orders") == [(0,)]
    assert rows(db, "select count(*) from ops.extraction_state") == [(0,)]
