"""The PayPal streams: Transaction Search rows and Add Tracking trackers, incrementally.

`transactions` (`raw.paypal__transactions`)
    Transaction Search selects on the transaction date, not on the update date. A run reads every row
    initiated in [start, cut), where start = min(interval start - lookback, the previous run's
    `complete_through`) and cut = min(interval end, `last_refreshed_datetime`): PayPal publishes with a
    lag of up to three hours, so the cursor never passes what it has published, and the next run
    resumes from there. A first load reads the last `history_days` (default 1095: the three years the
    API serves) in 31-day ranges.
    Rows change after their transaction date too: a capture refunded later turns from S to V (or gets
    a later `transaction_updated_date`), a pending row settles. Neither moves it into a later window,
    so a run also re-reads, one `transaction_id` search each (1 request):
    - every transaction referenced (`paypal_reference_id`) by a row this run read, such as the capture
      of each refund or reversal, when that transaction was initiated before this run's window;
    - every transaction whose latest raw version is still pending (P) and was updated within
      `pending_recheck_days` (default 31).
    Cursor: `{"complete_through": <cut>}` (never moved back by a backfill of an older interval).
    Reported count: the sum of `total_items` over every search.
    Cost per hourly run: 1 token + ceil(rows / 500) pages (one range) + 1 per reread: a handful.
    Settings: `history_days`, `page_size` (500), `balance_affecting_records_only` ("Y", the API's
    default, which leaves out denied payments; "N" adds them but also non-balance-affecting rows
    that can share an id), `pending_recheck_days`.

`trackers` (`raw.paypal__trackers`)
    PayPal lists trackers only per transaction (`GET /v1/shipping/trackers?transaction_id=…`), so a run
    asks once for each capture (T0006, latest status S or V) in `raw.paypal__transactions` initiated
    within `tracker_lookback_days` (default 30) before the window start (the window end on a first load; a
    window that reaches back over a gap reaches back as far for captures):
    - captures initiated within `tracker_recent_days` (default 7), where trackers are added and move,
      are asked every run;
    - older ones once per `tracker_cycle_hours` (default 24): each capture has a fixed moment in the
      cycle (from a hash of its id) and is asked by the run whose window passes it, so the load is
      spread evenly over the day, whatever the schedule (a window longer than the cycle asks all).
    It reads the committed transactions, so it declares `after = ("paypal.transactions",)`: run after
    that task, it asks about a capture in the same DAG run that loaded it (run alongside it, one run
    later).
    Cost per hourly run: C_recent + C_older / 24 requests (+1 token), C = captures in those age bands:
    at 300 captures a day that is 2 100 + 288 ≈ 2 400 requests, 2 minutes at 20 requests a second
    (`tracker_concurrency`, default 4, requests in flight when PayPal's latency would set the pace).
    Set `tracker_recent_days` = `tracker_lookback_days` to ask every capture every run.
    Captures whose trackers shipshape's own push added since the last run (`ops.correction_log`) are
    asked on the next run whatever their age, so a correction shows in the warehouse at once (SPEC.md:
    one more ingest-and-reconcile and the corrected mismatch is gone).
    Cursor: `{"polled_through": <window end>}`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg import sql

from shipshape.connections import Connection
from shipshape.ingest.http import ApiError
from shipshape.ingest.records import RawRecord, RecordError, parse_timestamp
from shipshape.ingest.stream import ExtractContext, Stream
from shipshape.sources.paypal import schema
from shipshape.sources.paypal.client import PayPalClient
from shipshape.sources.paypal.pagination import MAX_PAGE_SIZE, DataNotAvailable, TransactionSearch

HISTORY_DAYS = 1095  # "This call lists transaction for the previous three years."
PENDING_RECHECK_DAYS = 31
REREAD_SPAN = timedelta(days=1)  # the date range of a search by transaction id, from its initiation date
TRACKER_LOOKBACK_DAYS = 30
TRACKER_RECENT_DAYS = 7
TRACKER_CYCLE_HOURS = 24
TRACKER_CONCURRENCY = 4  # requests in flight: PayPal answers in a few hundred ms, the pacer allows 20 a second
TRACKER_CHUNK = 200
TRACKER_PROBE = 16  # captures asked in turn first, to time the service
THREADS_PAY_OFF_SECONDS = 0.02  # below this per answer, threads cost more (GIL, switching) than they save
TRACKERS_PATH = "/v1/shipping/trackers"
TRACKABLE_STATUSES = ("S", "V")  # completed captures, and those refunded since (their trackers stay)


def _duration(settings: dict[str, Any], key: str, default: float, unit: str) -> timedelta:
    value = settings.get(key, default)
    if isinstance(value, timedelta):
        return value
    try:
        return timedelta(**{unit: float(value)})
    except (TypeError, ValueError):
        raise ValueError(f"setting {key} must be a number of {unit}, not {value!r}") from None


def _time(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value, "cursor", required=False)
    except RecordError:
        return None


def _table_exists(ctx: ExtractContext, table: str) -> bool:
    """Whether the warehouse has `table` (schema-qualified) yet."""
    with ctx.warehouse.cursor() as cur:
        cur.execute("select to_regclass(%s)", (table,))
        return cur.fetchone()[0] is not None


class PayPalStream(Stream):
    source = "paypal"
    conn_id = "paypal_default"

    def open_client(self, conn: Connection, transport: httpx.BaseTransport | None = None) -> PayPalClient:
        return PayPalClient(conn, transport)


# ------------------------------------------------------------------------------------------ transactions
class TransactionsStream(PayPalStream):
    name = "transactions"

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return schema.transaction_row(record)

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        settings = ctx.settings
        end = ctx.window.end
        earliest = end - _duration(settings, "history_days", HISTORY_DAYS, "days")
        start = earliest if ctx.window.start is None else max(earliest, ctx.window.start)
        resume = _time((ctx.previous_state or {}).get("complete_through"))
        if resume is not None and ctx.window.start is not None:
            start = max(earliest, min(start, resume))  # what the last run could not see yet
        page_size = int(settings.get("page_size", MAX_PAGE_SIZE))
        search = TransactionSearch(ctx.client, page_size=page_size, params={
            "balance_affecting_records_only": str(settings.get("balance_affecting_records_only", "Y")),
        })
        references: set[str] = set()
        try:
            for page in search.scan(start, end):
                for record in page:
                    reference = _reference(record)
                    if reference is not None:
                        references.add(reference)
                yield page
        except DataNotAvailable:
            ctx.log.info("paypal.transactions: PayPal has published nothing after %s yet", start.isoformat())
        done = min(end, search.cut) if search.cut is not None else start
        ctx.log.info("paypal.transactions: read [%s, %s) (published through %s) in %d ranges (%d halvings, "
                     "%d read twice for a short count)",
                     start.isoformat(), done.isoformat(), search.cut.isoformat() if search.cut else "?",
                     search.ranges, search.splits, search.rescans)

        stale = self._stale(ctx, references, end - _duration(settings, "pending_recheck_days",
                                                                 PENDING_RECHECK_DAYS, "days"))
        batch: list[dict[str, Any]] = []
        reread = 0
        for transaction_id, initiated in stale:
            if start <= initiated < done:
                continue  # read by this very run, so already current
            reread += 1
            for page in search.range(initiated, initiated + REREAD_SPAN, transaction_id=transaction_id):
                batch.extend(page)
            if len(batch) >= page_size:
                yield batch
                batch = []
        if batch:
            yield batch
        if stale:
            ctx.log.info("paypal.transactions: reread %d earlier transactions (of %d referenced by this run's rows "
                         "or still pending; the rest were read by this run)", reread, len(stale))
        ctx.api_reported_count = search.total_items
        # A backfill of an older interval must not pull the cursor back: what was complete stays complete.
        ctx.new_state = {"complete_through": (done if resume is None else max(done, resume)).isoformat()}

    def _stale(self, ctx: ExtractContext, references: set[str], pending_since: datetime) -> list[tuple[str, datetime]]:
        """Earlier transactions to read again: those referenced by this run's rows, and the pending ones.

        Only transactions already in raw can be found again (a search by id needs their date); one
        referenced but not there was read by this run itself, or predates the history we hold.
        """
        if ctx.warehouse is None:
            return []
        table = sql.Identifier("raw", self.table)
        found: dict[str, str | None] = {}
        with ctx.warehouse.cursor() as cur:
            if references:
                cur.execute(sql.SQL(
                    "select distinct on (source_id) source_id, payload->'transaction_info'->>'transaction_initiation_date'"
                    " from {} where source_id = any(%s) order by source_id, source_updated_at desc, extracted_at desc"
                ).format(table), (sorted(references),))
                found.update(cur.fetchall())
            cur.execute(sql.SQL(
                "select source_id, payload->'transaction_info'->>'transaction_initiation_date' from ("
                " select distinct on (source_id) source_id, payload from {} where source_updated_at >= %s"
                " order by source_id, source_updated_at desc, extracted_at desc) latest"
                " where payload->'transaction_info'->>'transaction_status' = 'P'"
            ).format(table), (pending_since,))
            found.update(cur.fetchall())
        stale = [(tid, when) for tid, text in found.items() if (when := _time(text)) is not None]
        return sorted(stale, key=lambda item: (item[1], item[0]))


def _reference(record: Any) -> str | None:
    """The transaction a row refers to (a refund's capture), when it refers to a transaction (type TXN)."""
    info = record.get("transaction_info") if isinstance(record, dict) else None
    if not isinstance(info, dict) or info.get("paypal_reference_id_type", "TXN") != "TXN":
        return None  # ODR, SUB, PAP: an order, a subscription, a pre-approved payment, not a row of ours
    reference = info.get("paypal_reference_id")
    return reference if isinstance(reference, str) and reference else None


# ---------------------------------------------------------------------------------------------- trackers
def cycle_phase(capture_id: str) -> float:
    """A capture's fixed place in the polling cycle, in [0, 1): stable across runs and processes."""
    digest = hashlib.blake2b(capture_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def tracker_due(capture_id: str, initiated: datetime, *, end: datetime, recent_since: datetime,
                previous_end: datetime | None, cycle: timedelta) -> bool:
    """Whether this run asks for the capture's trackers (see the module docstring)."""
    if initiated >= recent_since or previous_end is None or end - previous_end >= cycle:
        return True
    period = cycle.total_seconds()
    offset = cycle_phase(capture_id) * period
    # Its moments are offset + k × period; is one of them in (previous_end, end]?
    return math.floor((end.timestamp() - offset) / period) > math.floor((previous_end.timestamp() - offset) / period)


class TrackersStream(PayPalStream):
    name = "trackers"
    after = ("paypal.transactions",)  # it lists trackers per capture loaded by that stream

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return schema.tracker_row(record)

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        settings = ctx.settings
        end = ctx.window.end
        schema.as_of.set(end)
        since = (ctx.window.start or end) - _duration(settings, "tracker_lookback_days", TRACKER_LOOKBACK_DAYS, "days")
        recent_since = end - _duration(settings, "tracker_recent_days", TRACKER_RECENT_DAYS, "days")
        cycle = _duration(settings, "tracker_cycle_hours", TRACKER_CYCLE_HOURS, "hours")
        previous_end = _time((ctx.previous_state or {}).get("polled_through"))
        captures = self._captures(ctx, since, end)
        due = [cid for cid, initiated in captures
               if tracker_due(cid, initiated, end=end, recent_since=recent_since, previous_end=previous_end,
                              cycle=cycle)]
        # applied_at is the push's wall clock, so it is compared with this stream's wall clock, not windows
        asked_at = datetime.now(UTC)
        seen_at = _time((ctx.previous_state or {}).get("corrections_seen_at"))
        written = [cid for cid in self._corrected_since(ctx, seen_at) if cid not in set(due)]
        if written:
            ctx.log.info("paypal.trackers: asking again for %d captures the push added trackers to", len(written))
            due += written
        recent = sum(1 for _, initiated in captures if initiated >= recent_since)
        ctx.log.info("paypal.trackers: %d captures initiated since %s; asking for %d (%d recent, %d on their turn)",
                     len(captures), since.isoformat(), len(due), min(recent, len(due)), len(due) - min(recent, len(due)))
        workers = max(1, int(settings.get("tracker_concurrency", TRACKER_CONCURRENCY)))
        batch: list[dict[str, Any]] = []
        for trackers in self._ask(ctx, due, workers):
            batch.extend(trackers)
            if len(batch) >= MAX_PAGE_SIZE:  # one COPY per batch, not one per capture
                yield batch
                batch = []
        if batch:
            yield batch
        polled_through = end if previous_end is None else max(end, previous_end)
        ctx.new_state = {"polled_through": polled_through.isoformat(), "captures_asked": len(due),
                         "corrections_seen_at": asked_at.isoformat()}

    def _ask(self, ctx: ExtractContext, due: list[str], workers: int) -> Iterator[list[Any]]:
        """The trackers of each capture, in the captures' order.

        The first few are asked one at a time, timing PayPal's answers (waits excluded). When an answer
        takes long enough for threads to pay off (the real service: a few hundred ms), the rest go
        `workers` at a time, in chunks so only a few hundred answers are held; the client's pacer
        still caps the rate. A service that answers in a millisecond or two is faster asked in turn.
        """
        client = ctx.client
        probe, rest = due[:TRACKER_PROBE], due[TRACKER_PROBE:]
        started, waited = time.monotonic(), client.waited
        for capture_id in probe:
            yield self._trackers(client, capture_id)
        latency = (time.monotonic() - started - (client.waited - waited)) / max(1, len(probe))
        if workers == 1 or latency < THREADS_PAY_OFF_SECONDS or not rest:
            for capture_id in rest:
                yield self._trackers(client, capture_id)
            return
        ctx.log.info("paypal.trackers: %.0f ms an answer; asking %d at a time", latency * 1000, workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paypal-trackers") as pool:
            for start in range(0, len(rest), TRACKER_CHUNK):
                yield from pool.map(lambda cid: self._trackers(client, cid), rest[start:start + TRACKER_CHUNK])

    @staticmethod
    def _corrected_since(ctx: ExtractContext, seen_at: datetime | None) -> list[str]:
        """Captures push_corrections added a tracker to since `seen_at` (the previous run's start; all of
        them on a first run)."""
        if ctx.warehouse is None or not _table_exists(ctx, "ops.correction_log"):
            return []
        with ctx.warehouse.cursor() as cur:
            cur.execute(
                "select distinct payload->>'capture_id' from ops.correction_log"
                " where target = 'paypal' and status = 'applied' and payload ? 'capture_id'"
                " and (%s::timestamptz is null or applied_at >= %s) order by 1",
                (seen_at, seen_at),
            )
            return [row[0] for row in cur.fetchall()]

    def _captures(self, ctx: ExtractContext, since: datetime, end: datetime) -> list[tuple[str, datetime]]:
        """Captures (latest version S or V) initiated in [since, end), from the committed transactions."""
        if ctx.warehouse is None or not _table_exists(ctx, "raw.paypal__transactions"):
            ctx.log.warning("paypal.trackers: raw.paypal__transactions is not loaded yet; no capture to ask about")
            return []
        with ctx.warehouse.cursor() as cur:
            # source_updated_at >= since is implied by the initiation date (updates come after it) and
            # lets the index cut the scan to the lookback.
            cur.execute(
                "select source_id, payload->'transaction_info'->>'transaction_initiation_date',"
                " payload->'transaction_info'->>'transaction_status' from ("
                " select distinct on (source_id) source_id, payload from raw.paypal__transactions"
                " where source_updated_at >= %s"
                " and payload->'transaction_info'->>'transaction_event_code' = %s"
                " order by source_id, source_updated_at desc, extracted_at desc) latest",
                (since, schema.CAPTURE),
            )
            rows = cur.fetchall()
        captures = [(cid, when) for cid, text, status in rows
                    if status in TRACKABLE_STATUSES and (when := _time(text)) is not None and since <= when < end]
        return sorted(captures, key=lambda item: (item[1], item[0]))

    @staticmethod
    def _trackers(client: PayPalClient, capture_id: str) -> list[Any]:
        try:
            body = client.get_json(TRACKERS_PATH, {"transaction_id": capture_id})
        except ApiError as exc:
            if exc.status == 404:  # PayPal's answer for a transaction it holds no tracker for
                return []
            raise
        trackers = body.get("trackers")
        if isinstance(trackers, list):  # tracker_collection, what the service returns
            return trackers
        if "transaction_id" in body:  # a single tracker, as the spec declares the response
            return [body]
        return []
