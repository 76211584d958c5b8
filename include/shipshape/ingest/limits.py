"""Rate-limit buckets shared by every task that spends the same account's budget.

The DAG runs each stream as a task of its own (a process, possibly on another worker), and the streams
of one source spend one budget: Stripe's requests per second per account, ShipHero's credits per
account, Shopify's cost points per app and shop. A client that paces only itself sends n times too fast
when n streams run at once, and is refused. So the tasks reserve from one bucket row in the warehouse
(`ops.rate_buckets`), which every task reaches, in single atomic statements timed by the database's
clock alone:

- `reserve(units)` takes the units now, leaving the bucket in debt if it lacks them, and answers how
  long the debt takes to refill: the wait before sending. Later reservations queue behind that debt, so
  the tasks together send exactly as fast as the bucket refills, whatever their number.
- `settle(units, charged=…, reported=…)` closes a reservation once its answer arrived (for services
  whose answers report what is left; a plain request rate needs no settling): it gives back
  what the service did not charge (Shopify refunds unused cost), and reconciles with the service's own
  count when the answer carries one. The count is trusted downward (another app spends the same budget)
  beyond a small slack, and upward only by what no reservation still in flight can explain (the
  service reset, or does not limit at all, as a sandbox with limits off).

A bucket's key names the source and a hash of the host and credential: never the secret itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

# A task killed mid-request never settles; after this long without any activity on a bucket, the
# units it left "in flight" are forgotten.
PENDING_EXPIRY_SECONDS = 300.0

_RESERVE = """
insert into ops.rate_buckets as b (key, capacity, rate, available, pending, stamp)
values (%(key)s, %(capacity)s, %(rate)s, %(capacity)s - %(units)s, %(pending)s,
        coalesce(%(now)s::float8, extract(epoch from clock_timestamp())))
on conflict (key) do update set
    capacity = excluded.capacity,
    rate = excluded.rate,
    available = least(excluded.capacity, b.available + greatest(0, excluded.stamp - b.stamp) * excluded.rate)
                - %(units)s,
    pending = case when excluded.stamp - b.stamp > %(expiry)s then 0 else b.pending end + %(pending)s,
    stamp = excluded.stamp
returning available, rate
"""

# `now` is the bucket refilled to this instant, with the uncharged part of the reservation given back;
# `others` is what reservations still in flight hold once this one is closed.
_SETTLE = """
with cur as (
    select key,
           least(capacity, available + greatest(0, coalesce(%(now)s::float8, extract(epoch from clock_timestamp()))
                                                       - stamp) * rate)
               + %(refund)s as now,
           greatest(0, pending - %(units)s) as others,
           rate, capacity
      from ops.rate_buckets where key = %(key)s
       for update
)
update ops.rate_buckets b set
    available = least(cur.capacity, case
        when %(reported)s::float8 is null then cur.now
        when %(reported)s::float8 < cur.now - %(slack)s then %(reported)s::float8
        when %(reported)s::float8 - cur.others > cur.now then %(reported)s::float8 - cur.others
        else cur.now end),
    pending = cur.others,
    stamp = coalesce(%(now)s::float8, extract(epoch from clock_timestamp()))
  from cur
 where b.key = cur.key
"""


def bucket_key(source: str, *parts: str | None) -> str:
    """`source:` plus a hash of what identifies the account (host, credential): no secret is stored."""
    digest = hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()[:20]
    return f"{source}:{digest}"


@dataclass
class SharedBucket:
    """One account's bucket: `capacity` units refilled at `rate` per second, in `store`."""

    store: SharedBuckets
    key: str
    capacity: float
    rate: float
    reports: bool = False  # whether the service's answers report what is left (then settle every request)
    slack_seconds: float = 0.5  # a service's count is read before its answer reaches us: that much late

    def reserve(self, units: float) -> float:
        """Take `units` now; seconds to wait before sending (0 when the bucket held them)."""
        units = float(units)
        available, rate = self.store.execute(_RESERVE, {"key": self.key, "capacity": self.capacity,
                                                        "rate": self.rate, "units": units,
                                                        "pending": units if self.reports else 0.0,
                                                        "expiry": PENDING_EXPIRY_SECONDS,
                                                        "now": self.store.now()})
        if available >= 0:
            return 0.0
        if not self.reports:
            return -available / rate
        # At least a millisecond more than exact: for a cost compared with a fractional balance, a wait
        # exact to the last bit can land a float's width short on the service's side and be refused.
        return math.ceil(-available / rate * 1000 + 1) / 1000

    def settle(self, units: float, *, charged: float | None = None, reported: float | None = None) -> None:
        """A request that reserved `units` was answered; the service charged `charged` (None: as reserved)
        and reported `reported` units left after it (None: it does not say)."""
        refund = 0.0 if charged is None else float(units) - float(charged)
        self.store.execute(_SETTLE, {"key": self.key, "units": float(units), "refund": refund,
                                     "reported": None if reported is None else float(reported),
                                     "slack": self.slack_seconds * self.rate, "now": self.store.now()},
                           fetch=False)


class SharedBuckets:
    """The warehouse's `ops.rate_buckets`, over a connection of its own (autocommit: a reservation must
    be seen by the other tasks at once, not when this task's load commits)."""

    def __init__(self, url: str, clock: Callable[[], float] | None = None) -> None:
        self.url = url
        # None: the database's clock, the one every task agrees on. Tests inject the fake clock their
        # sandbox refills by, so waits stay exact without sleeping.
        self.clock = clock
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # a client may send from a few threads (PayPal trackers)

    def now(self) -> float | None:
        return None if self.clock is None else self.clock()

    def bucket(self, key: str, capacity: float, rate: float, *, reports: bool = False) -> SharedBucket:
        return SharedBucket(self, key, float(capacity), float(rate), reports=reports)

    def execute(self, sql: str, params: dict, *, fetch: bool = True) -> tuple | None:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            cursor = self._conn.execute(sql, params)
            return cursor.fetchone() if fetch else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SharedBuckets:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
