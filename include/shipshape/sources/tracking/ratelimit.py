"""The tracker API's rate limit: what it tells us and how long to wait.

EasyPost publishes no fixed request rate; it answers HTTP 429 (`RATE_LIMITED`) with a `Retry-After`
header when a key sends too much, and the shared retry loop (`shipshape.ingest.http`) waits exactly
that long before repeating (exponential backoff with jitter when the header is missing). The sandbox
emulates it as a bucket of 100 requests per key refilled at 20 per second.

Where a deployment knows its account's limit, `RequestPacer` spaces requests to stay under it, so the
429s never happen: set `requests_per_second` (and optionally `burst`) in the connection's extra, or
`tracking_requests_per_second` / `tracking_burst` in the run's settings. Under the ingest runner the
pace is kept in the warehouse's shared bucket (`shipshape.ingest.limits`), so every task using the key
paces together. Off by default: a listing of 100 trackers per request rarely needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RequestPacer:
    """A local token bucket: `burst` requests at once, then `rate` per second."""

    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._stamp = self.clock()

    def delay(self) -> float:
        """Seconds to wait before the next request may go; takes its token."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
