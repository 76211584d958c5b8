"""Paging through PayPal Transaction Search (`GET /v1/reporting/transactions`) within its limits.

What the API imposes, and what this module does about it:

- `start_date`/`end_date` select on the transaction date (`transaction_initiation_date`), both ends
  inclusive, at most 31 days apart: a window is cut into consecutive ranges of at most 31 days. Ranges
  are half-open `[a, b)`, sent as `start_date=a`, `end_date=b - 1 µs` with microseconds, so consecutive
  ranges neither overlap nor leave a gap, whatever the precision of the stored times.
- More than 10 000 matching rows answer 400 `RESULTSET_TOO_LARGE` with no page: the range is halved,
  recursively, until each half fits.
- Pages are numbered (`page=1..total_pages`, `page_size` up to 500). A page that starts with a record
  the previous page already gave is an offset page that shifted under us: it is asked for again
  (PayPal's later pages can repeat the boundary record, and trusting such a page could lose the
  record it pushed out). After the last page, the distinct records seen are checked against
  `total_items`; a short count re-reads the range once, and is logged if still short.
- Publishing lag: the API holds data only up to `last_refreshed_datetime` (executed transactions take
  up to three hours to appear) and refuses a `start_date` after it. The first answer's value becomes
  the search's `cut`: no later request reaches past it, so a run's data is complete up to `cut` and
  the next run resumes there.

Each page is yielded as the API's list of `transaction_details`; nothing is held beyond one page and
the ids of one range (at most 10 000), so memory does not grow with the window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shipshape.ingest.http import ApiError
from shipshape.ingest.records import RecordError, parse_timestamp
from shipshape.sources.paypal.client import PayPalClient

log = logging.getLogger(__name__)

PATH = "/v1/reporting/transactions"
MAX_RANGE = timedelta(days=31)
MAX_PAGE_SIZE = 500
MIN_SPLIT = timedelta(seconds=1)  # a range this short that is still too large cannot be split further
SHIFTED_PAGE_RETRIES = 3
ONE_MICROSECOND = timedelta(microseconds=1)


class DataNotAvailable(Exception):
    """PayPal refused the start date: nothing after it has been published yet."""


def format_time(ts: datetime) -> str:
    """Internet date-time as the spec's pattern wants it: seconds required, fraction optional, Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_range(start: datetime, end: datetime, span: timedelta = MAX_RANGE) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive half-open ranges of at most `span` covering [start, end), oldest first."""
    a = start
    while a < end:
        b = min(a + span, end)
        yield a, b
        a = b


def _error_name(exc: ApiError) -> str:
    return str(exc.body.get("name", "")) if isinstance(exc.body, dict) else ""


def _error_message(exc: ApiError) -> str:
    return str(exc.body.get("message", "")) if isinstance(exc.body, dict) else str(exc.body or "")


def too_large(exc: ApiError) -> bool:
    return exc.status == 400 and _error_name(exc) == "RESULTSET_TOO_LARGE"


def not_available(exc: ApiError) -> bool:
    """400 "Data for the given start date is not available.": the start is past last_refreshed_datetime."""
    message = _error_message(exc).lower()
    return exc.status == 400 and "start date" in message and "not available" in message


def record_key(record: Any) -> tuple:
    """What identifies a row of one search: its transaction id (unique among balance-affecting rows)."""
    info = record.get("transaction_info") if isinstance(record, dict) else None
    if not isinstance(info, dict):
        return ("?", repr(record)[:200])
    tid = info.get("transaction_id")
    if isinstance(tid, str) and tid:
        return (tid,)
    # A malformed row without an id (it will be quarantined): tell it apart by what else it carries.
    return ("?", info.get("transaction_event_code"), info.get("transaction_initiation_date"),
            str(info.get("transaction_amount")))


class TransactionSearch:
    """One run's searches: pages, splits, the publishing cut-off and the totals PayPal reported."""

    def __init__(self, client: PayPalClient, *, page_size: int = MAX_PAGE_SIZE,
                 params: dict[str, str] | None = None) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        self.client = client
        self.page_size = page_size
        self.params = {"fields": "all", **(params or {})}
        self.cut: datetime | None = None  # last_refreshed_datetime of the first answer
        self.total_items = 0  # the sum of total_items over every range read
        self.ranges = 0
        self.splits = 0
        self.rescans = 0

    def scan(self, start: datetime, end: datetime, **filters: str) -> Iterator[list[dict[str, Any]]]:
        """Every row initiated in [start, end) (stopping at the cut), in ranges of at most 31 days."""
        for a, b in split_range(start, end):
            yield from self.range(a, b, **filters)

    def range(self, start: datetime, end: datetime, **filters: str) -> Iterator[list[dict[str, Any]]]:
        """Rows initiated in [start, end), end clamped to the cut; split in halves while too large."""
        if self.cut is not None:
            if start >= self.cut:
                return
            end = min(end, self.cut)
        if end <= start:
            return
        try:
            first = self._get(start, end, 1, filters)
        except ApiError as exc:
            if too_large(exc) and end - start > MIN_SPLIT:
                middle = start + (end - start) / 2
                self.splits += 1
                log.info("paypal: more than %s rows in [%s, %s): splitting the range in halves",
                         (exc.body or {}).get("maximum_items", "10000"), start.isoformat(), end.isoformat())
                yield from self.range(start, middle, **filters)
                yield from self.range(middle, end, **filters)
                return
            if not_available(exc):
                raise DataNotAvailable(f"no data published after {start.isoformat()} yet") from exc
            raise
        self.ranges += 1
        total = _int(first.get("total_items"))
        self.total_items += total
        seen: set[tuple] = set()
        for attempt in range(2):
            if attempt:
                self.rescans += 1
                log.warning("paypal: [%s, %s) gave %d distinct rows of the %d reported; reading it again",
                            start.isoformat(), end.isoformat(), len(seen), total)
                first = self._get(start, end, 1, filters)
            yield from self._pages(start, end, filters, first, seen)
            if len(seen) >= total:
                return
        log.warning("paypal: [%s, %s) still gave %d distinct rows of the %d reported; the run's count "
                    "check (api_reported_count) will show it", start.isoformat(), end.isoformat(), len(seen), total)

    def _pages(self, start: datetime, end: datetime, filters: dict[str, str], body: dict[str, Any],
               seen: set[tuple]) -> Iterator[list[dict[str, Any]]]:
        page, shifted = 1, 0
        previous: set[tuple] = set()  # the keys of the page before, to spot a shifted page
        while True:
            details = body.get("transaction_details") or []
            if details and shifted < SHIFTED_PAGE_RETRIES and record_key(details[0]) in previous:
                # The page starts with a row we already have: its offset moved, so its last row may be
                # missing. Ask again; a page that keeps shifting is taken (the rescan catches a loss).
                shifted += 1
                log.info("paypal: page %d of [%s, %s) repeats the previous page's last row; asking again",
                         page, start.isoformat(), end.isoformat())
                body = self._get(start, end, page, filters)
                continue
            shifted = 0
            previous = {record_key(r) for r in details}
            seen.update(previous)
            if details:
                yield details
            if not details or page >= _int(body.get("total_pages")):
                return
            page += 1
            body = self._get(start, end, page, filters)

    def _get(self, start: datetime, end: datetime, page: int, filters: dict[str, str]) -> dict[str, Any]:
        params = {
            **self.params,
            **filters,
            "start_date": format_time(start),
            "end_date": format_time(end - ONE_MICROSECOND),  # the API's end is inclusive
            "page_size": str(self.page_size),
            "page": str(page),
        }
        body = self.client.get_json(PATH, params)
        if self.cut is None:
            self.cut = _refreshed(body)
        return body


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _refreshed(body: dict[str, Any]) -> datetime | None:
    value = body.get("last_refreshed_datetime")
    if value is None:
        return None
    try:
        return parse_timestamp(value, "last_refreshed_datetime")
    except RecordError:
        log.warning("paypal: unreadable last_refreshed_datetime %r; not capping the window", value)
        return None
