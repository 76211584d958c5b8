"""Ingest throughput against a bare fetch of the same pages, and ingest memory at two world sizes.

    python -m shipshape_sandbox.benchmarks.ingest [--orders 100000] [--baseline 10000]

For each size, in a child process of its own (so peak RSS is that size's): a sandbox is served by a
separate `shipshape sandbox serve` process (rate limits off), then
1. ingest every stream into a fresh database (warm-up: fills the sandbox's caches and gives the PayPal
   trackers stream its captures),
2. bare fetch: every stream's `pages()` on the same client code, records parsed and discarded,
3. ingest again into another fresh database: the measured run.
It prints records per second, the ratio ingest / bare fetch, and the child's peak RSS (VmHWM). The
client-side pacing of Stripe and PayPal is raised for the run (connection extra requests_per_second),
since the sandbox's limits are off: this measures the pipeline, not the pacer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timedelta

import httpx
import psycopg

from shipshape.ingest.catalog import all_streams
from shipshape.ingest.http import RetryPolicy
from shipshape.ingest.runner import run_stream
from shipshape.ingest.stream import ExtractContext, Window
from shipshape_sandbox.benchmarks import drop_database, scratch_database
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.runner import free_port


def _connections(base: str) -> dict:
    creds = httpx.get(f"{base}/_sandbox/credentials", timeout=30).json()
    return sandbox_connections(base, creds, requests_per_second=10_000)


def _ingest(url: str, connections: dict, end: datetime) -> tuple[int, float]:
    started, records = time.monotonic(), 0
    for stream in all_streams().values():
        result = run_stream(stream, warehouse_url=url, interval_start=end - timedelta(hours=1), interval_end=end,
                            run_id="bench", connection=connections[stream.conn_id])
        records += result.fetched
    return records, time.monotonic() - started


def _bare_fetch(url: str, connections: dict, end: datetime) -> tuple[int, float]:
    import logging

    started, records = time.monotonic(), 0
    with psycopg.connect(url) as db:
        for stream in all_streams().values():
            with stream.open_client(connections[stream.conn_id]) as client:
                client.retry = RetryPolicy()
                ctx = ExtractContext(window=Window(None, end), previous_state=None, run_id="bench", client=client,
                                     log=logging.getLogger("bench"), warehouse=db)
                for page in stream.pages(ctx):
                    records += len(page)
    return records, time.monotonic() - started


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(orders: int, seed: int, server_url: str) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shipshape_sandbox", "serve", "--orders", str(orders), "--seed", str(seed),
         "--port", str(port), "--rate-limits", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                clock = datetime.fromisoformat(httpx.get(f"{base}/_sandbox/health", timeout=5).json()["clock"])
                break
            except httpx.HTTPError:
                if server.poll() is not None:
                    raise RuntimeError("sandbox exited") from None
                time.sleep(0.1)
        connections = _connections(base)
        warm, measured = scratch_database(server_url), scratch_database(server_url)
        try:
            _ingest(warm, connections, clock)
            fetched, fetch_s = _bare_fetch(warm, connections, clock)
            ingested, ingest_s = _ingest(measured, connections, clock)
        finally:
            drop_database(warm)
            drop_database(measured)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"orders": orders, "records": ingested, "fetched": fetched, "ingest_s": ingest_s, "fetch_s": fetch_s,
            "peak_rss_mb": _peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=os.environ.get("SHIPSHAPE_BENCH_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a Postgres server URL where the benchmark may create databases")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.seed, args.database)))
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    for n in (args.baseline, args.orders):
        out = subprocess.run([sys.executable, "-m", "shipshape_sandbox.benchmarks.ingest", "--child", str(n), "--seed",
                              str(args.seed), "--database", args.database], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'orders':>8} {'records':>9} {'bare fetch s':>13} {'ingest s':>9} {'records/s':>10} {'ingest/fetch':>13} "
          f"{'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['orders']:>8} {r['records']:>9} {r['fetch_s']:>13.1f} {r['ingest_s']:>9.1f} "
              f"{r['records'] / r['ingest_s']:>10.0f} {r['ingest_s'] / r['fetch_s']:>13.2f} {r['peak_rss_mb']:>12.0f}")
    small, large = rows
    print(f"targets: ingest/fetch <= 1.3 at {large['orders']}: {large['ingest_s'] / large['fetch_s']:.2f}; "
          f"peak RSS {large['orders']} / {small['orders']} <= 1.2: {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
