"""Shared steps of the corrections tests: a sandbox world ingested and reconciled into a real Postgres, a
recording HTTP server, and a hand-written plan."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg

from shipshape import codes, dbt
from shipshape.ingest.catalog import all_streams
from shipshape.ingest.runner import run_stream
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import World

# the order codes a correction answers (INVENTORY_MISMATCH, at the SKU grain, is counted on its own)
CORRECTABLE = codes.correctable() & set(codes.names("order"))


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def ingest(world: World, url: str, settings: dict | None = None) -> None:
    """Every stream's extraction (the real `run_stream`) from a sandbox serving `world`, as dump_raw does,
    with the given run settings."""
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json())
        for stream in all_streams().values():
            run_stream(stream, warehouse_url=url, interval_start=world.clock - timedelta(hours=1),
                       interval_end=world.clock, run_id="corrections-test", connection=connections[stream.conn_id],
                       settings=settings)


def ingest_and_reconcile(world: World, url: str, tmp: Path, settings: dict | None = None) -> None:
    """Extract every stream from a sandbox serving `world` (the real run_stream), then `dbt run` at the
    world clock: seeds and models, not their data and unit tests (tests/dbt has those; they double the time)."""
    ingest(world, url, settings)
    built = dbt.run(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"], url=url, as_of=world.clock, target_path=tmp / "target", log_path=tmp / "logs",
                    echo=False)
    assert built.success, built.not_passed() or built.output[-3000:]


def mart_codes(url: str) -> Counter:
    rows = query(url, "select shopify_order_id, mismatch_codes from marts.fct_order_reconciliation")
    return Counter(code for _, codes in rows for code in codes)


def mart_pairs(url: str) -> set[tuple[int, str]]:
    rows = query(url, "select shopify_order_id, mismatch_codes from marts.fct_order_reconciliation")
    return {(order, code) for order, codes in rows for code in codes}


def inventory_mismatches(url: str) -> int:
    return query(url, "select count(*) from marts.fct_inventory_reconciliation where inventory_mismatch")[0][0]


def log_rows(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("select * from ops.correction_log order by action_id")
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# ----------------------------------------------------------------------------------- a recording server
class Recorder:
    """A stand-in for the real APIs on loopback: records every request and answers 200 `{}`."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append({"method": self.command, "path": self.path, "body": body,
                                          "headers": dict(self.headers)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def writes(self) -> list[dict]:
        return [r for r in self.requests if r["method"] != "GET"]


# ------------------------------------------------------------------------------------ a synthetic plan
PLAN_DDL = """
create schema if not exists marts;
drop table if exists marts.correction_plan;
drop table if exists marts.fct_order_reconciliation;
create table marts.fct_order_reconciliation (shopify_order_id bigint primary key, mismatch_codes text[]);
create table marts.correction_plan (
    action_id text, target_system text, target_object text, target_object_id text, action text,
    api_operation text, payload jsonb, before_state jsonb, mismatch_codes text[], severity text,
    shopify_order_id bigint, order_name text, sku text, currency text, amount_at_risk numeric,
    idempotency_key text, as_of timestamptz
);
"""


def write_plan(url: str, actions: list[dict], orders: int) -> None:
    """Replace the plan and the orders in scope by hand (no dbt): for tests of the push alone."""
    import hashlib
    import json

    from psycopg.types.json import Jsonb

    with psycopg.connect(url) as conn:
        conn.execute(PLAN_DDL)
        with conn.cursor() as cur:
            cur.executemany("insert into marts.fct_order_reconciliation values (%s, '{}')",
                            [(6_100_000_000_000 + i,) for i in range(orders)])
            for i, a in enumerate(actions):
                key = hashlib.sha256(f"{a['target_system']}|{a['action']}|{json.dumps(a['payload'], sort_keys=True)}"
                                     .encode()).hexdigest()
                cur.execute(
                    "insert into marts.correction_plan values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, 'USD', 0, %s, now())",
                    (f"{a['target_system']}:x:{i}:{a['action']}", a["target_system"], a.get("target_object", "order"),
                     str(i), a["action"], a.get("api_operation"), Jsonb(a["payload"]), Jsonb(a.get("before")),
                     a.get("codes", ["X"]), "low", a.get("order"), f"#{1000 + i}", a.get("sku"), key))
