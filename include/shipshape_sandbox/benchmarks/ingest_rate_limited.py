"""Ingest under the sandbox's real rate limits, against the least time those limits allow.

    python -m shipshape_sandbox.benchmarks.ingest_rate_limited [--orders 5000] [--seed 7]

Two `shipshape sandbox serve` processes over the same world (seed 7): one with rate limits off, one with
the real limits. Against each, every stream is ingested into a fresh database, every stream in a process
of its own and all started together, as the DAG's tasks run (PayPal trackers after PayPal transactions,
the DAG's one dependency). Shopify orders are paged (`bulk: False`, the hourly path) rather than bulk
exported, so its cost limit is exercised.

Per source, the least time the limits allow is computed from what the sandbox's Stats say each limit
charged in the limited run (requests, Shopify cost points net of refunds, ShipHero credits): a bucket of
capacity C refilled at r/s cannot serve U units in less than max(0, (U - C) / r) seconds. The source's
floor is the larger of that and its elapsed time with limits off (the time the same requests take when
nothing throttles); the whole ingest's floor is the largest source floor, since sources run in parallel.
Failed requests are what the sandbox counted as throttled (429s, THROTTLED, ShipHero code 30) plus any
retry the clients made; the target is none, and elapsed / floor <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from shipshape_sandbox.benchmarks import drop_database, scratch_database

SOURCES = ("shopify", "stripe", "paypal", "shiphero", "tracking")
TARGET = 1.15


# --------------------------------------------------------------------------------------------- setup
def _serve(orders: int, seed: int, rate_limits: str) -> tuple[subprocess.Popen, str, datetime]:
    from shipshape_sandbox.runner import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shipshape_sandbox", "serve", "--orders", str(orders), "--seed", str(seed),
         "--port", str(port), "--rate-limits", rate_limits], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            clock = datetime.fromisoformat(httpx.get(f"{base}/_sandbox/health", timeout=5).json()["clock"])
            return server, base, clock
        except httpx.HTTPError:
            if server.poll() is not None:
                raise RuntimeError("sandbox exited") from None
            time.sleep(0.1)


def _connections(base: str, extras: dict[str, dict]) -> dict:
    """The sandbox's connections, with `extras` added per connection id (PayPal and the tracker API
    publish no limit: a deployment sets its account's, as the benchmark sets the sandbox's)."""
    from shipshape_sandbox.dump import sandbox_connections

    creds = httpx.get(f"{base}/_sandbox/credentials", timeout=30).json()
    connections = sandbox_connections(base, creds)
    for conn_id, extra in extras.items():
        conn = connections[conn_id]
        connections[conn_id] = replace(conn, extra={**conn.extra, **extra})
    return connections


# ---------------------------------------------------------------------------------------------- runs
def _chains() -> list[list[str]]:
    """Streams grouped so a stream runs after the ones it reads (as the DAG orders them)."""
    from shipshape.ingest.catalog import all_streams

    streams = all_streams()
    chains: dict[str, list[str]] = {}
    for key, stream in streams.items():
        head = next((c for c in chains if stream.after and stream.after[-1] in chains[c]), None)
        if head is None:
            chains[key] = [key]
        else:
            chains[head].append(key)
    return list(chains.values())


def _worker(chain: list[str], url: str, connections: dict, end: datetime, settings: dict, start: Any,
            out: Any) -> None:
    from shipshape.ingest.catalog import all_streams
    from shipshape.ingest.runner import run_stream

    streams = all_streams()
    start.wait()
    for key in chain:
        stream = streams[key]
        began = time.monotonic()
        try:
            result = run_stream(stream, warehouse_url=url, interval_start=end - timedelta(hours=1), interval_end=end,
                                run_id="bench", connection=connections[stream.conn_id], settings=settings)
            out.put({"stream": key, "began": began, "ended": time.monotonic(), "fetched": result.fetched,
                     "requests": result.requests, "retries": result.retries})
        except Exception as exc:  # noqa: BLE001 - reported in the figures, the run goes on
            out.put({"stream": key, "began": began, "ended": time.monotonic(), "error": repr(exc)[:300]})
            return


def ingest_all(base: str, end: datetime, database: str, extras: dict[str, dict], settings: dict,
               source: str | None = None) -> dict:
    """Every stream (of `source`, or all) against the sandbox at `base`, each chain in its own process,
    all released at once, into a fresh database."""
    url = scratch_database(database)
    connections = _connections(base, extras)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    chains = [c for c in _chains() if source is None or c[0].split(".")[0] == source]
    workers = [ctx.Process(target=_worker, args=(chain, url, connections, end, settings, start, out))
               for chain in chains]
    try:
        for w in workers:
            w.start()
        time.sleep(3.0)  # let every process import before the clock starts (Airflow's tasks are warm too)
        before = httpx.get(f"{base}/_sandbox/stats", timeout=60).json()
        released = time.monotonic()
        start.set()
        expected = sum(len(c) for c in chains)
        rows = []
        while len(rows) < expected and any(w.is_alive() for w in workers) or not out.empty():
            try:
                rows.append(out.get(timeout=1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: poll the workers again
                continue
        for w in workers:
            w.join()
        after = httpx.get(f"{base}/_sandbox/stats", timeout=60).json()
    finally:
        drop_database(url)
    return {"released": released, "streams": rows, "before": before, "after": after}


# ------------------------------------------------------------------------------------------- figures
def _delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def least_seconds(units: float, capacity: float, rate: float) -> float:
    """The least time a bucket of `capacity` refilled at `rate`/s needs to serve `units`."""
    return max(0.0, (units - capacity) / rate)


def per_source(run: dict, sources: tuple[str, ...] = SOURCES) -> dict[str, dict]:
    out: dict[str, dict] = {}
    charged = _delta(run["after"]["charged"], run["before"].get("charged", {}))
    throttled = _delta(run["after"]["throttled"], run["before"].get("throttled", {}))
    faults = _delta(run["after"]["faults_injected"], run["before"].get("faults_injected", {}))
    for source in sources:
        rows = [r for r in run["streams"] if r["stream"].split(".")[0] == source]
        limits = {k: v for k, v in run["after"]["limits"].items() if k.split(":")[0] == source}
        bounds = {k: least_seconds(charged.get(k, 0), lim["capacity"], lim["rate"]) for k, lim in limits.items()}
        out[source] = {
            "elapsed": max(r["ended"] for r in rows) - run["released"],
            "records": sum(r.get("fetched", 0) for r in rows),
            "requests": sum(r.get("requests", 0) for r in rows),
            "retries": sum(r.get("retries", 0) for r in rows),
            "errors": [f"{r['stream']}: {r['error']}" for r in rows if "error" in r],
            "throttled": throttled.get(source, 0),
            "faults": sum(v for k, v in faults.items() if k.startswith(source + ":")),
            "charged": {k: charged.get(k, 0) for k in limits},
            "limit_bound": max(bounds.values(), default=0.0),
            "binding": max(bounds, key=bounds.get) if bounds else None,
        }
    return out


def report(orders: int, off: dict[str, dict], real: dict[str, dict], off_total: float, real_total: float) -> dict:
    print(f"{'source':<9} {'requests':>8} {'charged (limit)':>26} {'limit s':>8} {'off alone s':>12} "
          f"{'floor s':>8} {'elapsed s':>9} {'ratio':>6} {'failed':>6}")
    floors = {}
    failed_total = 0
    for source in SOURCES:
        r, o = real[source], off[source]
        floor = max(r["limit_bound"], o["elapsed"])
        floors[source] = floor
        failed = r["throttled"] + r["retries"] + len(r["errors"])
        failed_total += failed
        key = r["binding"]
        charged = f"{r['charged'][key]:.0f} {key.split(':')[1]}" if key else "-"
        print(f"{source:<9} {r['requests']:>8} {charged:>26} {r['limit_bound']:>8.1f} {o['elapsed']:>12.1f} "
              f"{floor:>8.1f} {r['elapsed']:>9.1f} {r['elapsed'] / floor:>6.2f} {failed:>6}")
        for error in r["errors"]:
            print(f"    error: {error}")
    floor = max(max(floors.values()), off_total)
    ratio = real_total / floor
    print(f"{'overall':<9} {sum(r['requests'] for r in real.values()):>8} {'':>26} "
          f"{max(r['limit_bound'] for r in real.values()):>8.1f} {off_total:>12.1f} {floor:>8.1f} "
          f"{real_total:>9.1f} {ratio:>6.2f} {failed_total:>6}")
    verdict = "met" if ratio <= TARGET and failed_total == 0 else "NOT met"
    print(f"target: elapsed <= {TARGET}x the least time the limits allow, no failed request: {verdict} "
          f"({ratio:.2f}x, {failed_total} failed)")
    return {"orders": orders, "ratio": ratio, "failed": failed_total, "floor": floor, "elapsed": real_total,
            "sources": {s: {**real[s], "floor": floors[s], "off_elapsed": off[s]["elapsed"]} for s in SOURCES}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=os.environ.get("SHIPSHAPE_BENCH_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a Postgres server URL where the benchmark may create databases")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.orders} orders, seed {args.seed}")
    # The sandbox's published limits, given to the clients of APIs whose real service publishes none.
    extras = {"paypal_default": {"requests_per_second": 30.0},
              "tracking_default": {"requests_per_second": 20.0, "burst": 100}}
    settings = {"bulk": False}
    runs: dict[str, Any] = {}
    alone: dict[str, dict] = {}
    for mode in ("off", "real"):
        server, base, clock = _serve(args.orders, args.seed, mode)
        try:
            if mode == "off":  # each source by itself first: its time when nothing throttles or competes
                for source in SOURCES:
                    run = ingest_all(base, clock, args.database, extras, settings, source)
                    alone[source] = per_source(run, (source,))[source]
                    print(f"rate limits off, {source} alone: {alone[source]['elapsed']:.1f} s", flush=True)
            runs[mode] = ingest_all(base, clock, args.database, extras, settings)
            runs[mode]["total"] = max(r["ended"] for r in runs[mode]["streams"]) - runs[mode]["released"]
            print(f"rate limits {mode}, all streams at once: {runs[mode]['total']:.1f} s", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures = report(args.orders, alone, per_source(runs["real"]), runs["off"]["total"], runs["real"]["total"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
