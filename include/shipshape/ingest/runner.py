"""Runs one stream for one window: read its cursor, extract page by page, check every record, load the
good ones and quarantine the rest, then commit rows, quarantine, cursor and run log in one transaction.

**The window** a run reads ends at its data interval's end and starts at its committed high-water mark
(the latest window end in `ops.extraction_runs`) or its interval's start, whichever is earlier, minus
the lookback. So a run after a gap (an outage, paused runs, a slow deploy: hours, days or months) reads
everything since the last one loaded, and a backfill of an earlier interval still reads that interval.
A stream's first run (no cursor) reads its whole history. Each source turns a long window into its own
mechanism (a Shopify Bulk Operation, a full Stripe listing past its 30 days of events, PayPal searches of
at most 31 days).

A failure anywhere rolls everything back, so a task killed halfway leaves nothing half-loaded and its
rerun starts from the same cursor. Memory stays flat: each page is spooled to a local file and dropped
(ingest.loader), and the transaction lasts only as long as the final merge.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from shipshape.connections import Connection, get_connection
from shipshape.ingest.limits import SharedBuckets
from shipshape.ingest.loader import RawLoad, read_state
from shipshape.ingest.records import RawRecord, RecordError
from shipshape.ingest.stream import ExtractContext, Stream, Window

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(hours=2)
PROGRESS_EVERY_SECONDS = 10.0


class QuarantineExceeded(RuntimeError):
    """More records failed their checks than the run tolerates: something upstream is broken."""


def plan_window(key: str, state: dict[str, Any] | None, high_water: datetime | None, interval_start: datetime,
                interval_end: datetime, lookback: timedelta) -> Window:
    """What one run reads (see the module docstring), logged with why."""
    if state is None:
        window = Window(None, interval_end)
        log.info("%s: extracting %s (first load: full history)", key, window)
        return window
    start = interval_start if high_water is None else min(interval_start, high_water)
    window = Window(start - lookback, interval_end)
    if start < interval_start:
        log.warning("%s: loaded only through %s, %s before this run's interval starts (%s): reading %s so the "
                    "gap is closed", key, start.isoformat(), interval_start - start, interval_start.isoformat(),
                    window)
    else:
        log.info("%s: extracting %s", key, window)
    return window


def read_high_water(conn: psycopg.Connection, source: str, stream: str) -> datetime | None:
    """The stream's committed high-water mark: the latest end of a window it loaded (None before any)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('ops.extraction_runs')")
        if cur.fetchone()[0] is None:
            return None
        cur.execute("select max(window_end) from ops.extraction_runs where source = %s and stream = %s",
                    (source, stream))
        return cur.fetchone()[0]


@dataclass
class StreamResult:
    stream: str
    window: str
    window_start: str | None
    window_end: str
    fetched: int
    inserted: int
    quarantined: int
    api_reported_count: int | None
    requests: int
    retries: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarantine_limit(fetched: int, *, floor: int = 50, rate: float = 0.05) -> int:
    """How many quarantined records a run tolerates: max(floor, rate × fetched)."""
    return max(floor, int(rate * fetched))


def run_stream(
    stream: Stream,
    *,
    warehouse_url: str,
    interval_start: datetime,
    interval_end: datetime,
    run_id: str,
    lookback: timedelta = DEFAULT_LOOKBACK,
    connection: Connection | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: dict[str, Any] | None = None,
    quarantine_floor: int = 50,
    quarantine_rate: float = 0.05,
    buckets: SharedBuckets | None = None,
) -> StreamResult:
    """Extract and load `stream` for the run's interval (widened back by `lookback`). The source's rate
    limit is spent from `buckets` (default: the warehouse's shared buckets, on the database's clock)."""
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    connection = connection or get_connection(stream.conn_id)
    # autocommit: the load opens its transaction only to merge (ingest.loader.RawLoad)
    with psycopg.connect(warehouse_url, autocommit=True) as db:
        state = read_state(db, stream.source, stream.name)
        window = plan_window(stream.key, state, read_high_water(db, stream.source, stream.name),
                             interval_start, interval_end, lookback)
        load = RawLoad(db, stream.source, stream.name, stream.table, run_id)
        with contextlib.closing(load), stream.open_client(connection, transport) as client, \
                buckets or SharedBuckets(warehouse_url) as shared:
            share = getattr(client, "share_buckets", None)  # an ApiClient's hook; a stream may bring its own client
            if share is not None:
                share(shared)  # the source's other streams, in other tasks, spend the same limit
            ctx = ExtractContext(window=window, previous_state=state, run_id=run_id, client=client, log=log,
                                 settings=dict(settings or {}), warehouse=db)
            last_report = time.monotonic()
            for page in stream.pages(ctx):
                good: list[RawRecord] = []
                for record in page:
                    load.counts.fetched += 1
                    try:
                        good.append(stream.to_raw(record))
                    except RecordError as exc:
                        record_id = _record_id(record)
                        log.warning("%s: quarantined record %s: %s (%s)", stream.key, record_id, exc.field, exc.reason)
                        load.quarantine(record_id, exc.field, exc.reason, record)
                load.write(good)
                if time.monotonic() - last_report > PROGRESS_EVERY_SECONDS:
                    last_report = time.monotonic()
                    log.info("%s: %d records so far, %d requests, %d retries", stream.key, load.counts.fetched,
                             client.requests, client.retries)
            limit = quarantine_limit(load.counts.fetched, floor=quarantine_floor, rate=quarantine_rate)
            if load.counts.quarantined > limit:
                raise QuarantineExceeded(
                    f"{stream.key}: {load.counts.quarantined} of {load.counts.fetched} records failed their checks "
                    f"(limit {limit}); nothing was loaded. See the warnings above for each record and field."
                )
            counts = load.commit(ctx.new_state, window_start=window.start, window_end=window.end,
                                 api_reported_count=ctx.api_reported_count, requests=client.requests,
                                 retries=client.retries, started_at=started_at)
            result = StreamResult(stream.key, str(window), window.start.isoformat() if window.start else None,
                                  window.end.isoformat(), counts.fetched, counts.inserted, counts.quarantined,
                                  ctx.api_reported_count, client.requests, client.retries,
                                  round(time.monotonic() - clock, 3))
    log.info("%s: %d fetched, %d new versions loaded, %d quarantined, %d requests (%d retried) in %.1f s",
             stream.key, result.fetched, result.inserted, result.quarantined, result.requests, result.retries,
             result.seconds)
    return result


def _record_id(record: Any) -> str | None:
    if isinstance(record, dict):
        for key in ("id", "transaction_id", "legacy_id"):
            value = record.get(key)
            if isinstance(value, str | int):
                return str(value)
        info = record.get("transaction_info")
        if isinstance(info, dict) and isinstance(info.get("transaction_id"), str):
            return info["transaction_id"]
    return None
