"""`shipshape sandbox dump-raw`: load a sandbox world into the raw tables without waiting on rate limits.

It is the extraction itself: every stream of `shipshape.sources` runs its first (full-history) load
against the sandbox served on loopback with rate limits off and no faults, through the same
`run_stream` the DAG calls, so the raw rows are exactly the ones ingest would land.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from shipshape.connections import Connection, parse
from shipshape.ingest.catalog import all_streams
from shipshape.ingest.runner import run_stream
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import World

log = logging.getLogger(__name__)


def sandbox_connections(base_url: str, credentials: dict[str, dict[str, str]],
                        **extra: Any) -> dict[str, Connection]:
    """The API connections (by conn_id) that point at a running sandbox, with `extra` added to each."""
    connections = {}
    for name, value in connection_env(base_url, credentials).items():
        conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
        conn = parse(conn_id, value)
        connections[conn_id] = replace(conn, extra={**conn.extra, **extra}) if extra else conn
    return connections


# The sandbox's limits are off, so the clients' own pacing (PayPal's 20 requests/s, which makes the
# per-capture trackers stream take most of a large dump) only waits: raise it, as the ingest benchmark does.
UNPACED = {"requests_per_second": 10_000}


def dump_raw(world: World, warehouse_url: str, *, run_id: str = "sandbox-dump-raw",
             port: int | None = None) -> list[dict[str, Any]]:
    """Extract every stream of `world` into the raw tables of `warehouse_url`; one result per stream.

    The sandbox listens on `port` (default: a free one). Its address is part of some payloads (PayPal's
    HATEOAS links), so a later dump of the same world on another port lands those records as new
    versions, where a real API keeps its address: give the same port to compare two dumps.
    """
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    results = []
    with running(sandbox, port=port) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json(), **UNPACED)
        for key, stream in all_streams().items():
            started = time.monotonic()
            result = run_stream(stream, warehouse_url=warehouse_url, interval_start=world.clock - timedelta(hours=1),
                                interval_end=world.clock, run_id=run_id, connection=connections[stream.conn_id])
            log.info("%s: %d records in %.1f s", key, result.fetched, time.monotonic() - started)
            results.append(result.as_dict())
    return results
