"""PayPal's rate limits, and how long to wait before the next request.

PayPal publishes no numbers for its REST APIs: it answers HTTP 429 `RATE_LIMIT_REACHED` ("Too many
requests. Blocked due to rate limiting.") with a `Retry-After` header once a client goes too fast, and
may block an app that keeps hammering it. So the client does two things:

- it paces itself to a configurable rate (connection extra `requests_per_second`, default 20), with a
  burst of one second's worth: that keeps an hourly run well under any plausible per-token limit, and
  a request budget is easy to reason about (the trackers stream documents its requests per run);
- when PayPal answers 429 anyway, `ApiClient`'s retry loop waits exactly the `Retry-After` seconds (or
  backs off exponentially when the header is missing) and repeats the request.

PayPal signals no throttling inside 200 bodies, so `throttle_delay` stays the base class's no-op.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEFAULT_REQUESTS_PER_SECOND = 20.0


def requests_per_second(extra: dict[str, Any]) -> float:
    """The connection's `requests_per_second` extra, or the default; 0 or less means unpaced."""
    value = extra.get("requests_per_second", DEFAULT_REQUESTS_PER_SECOND)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"connection extra requests_per_second must be a number, not {value!r}") from None


class RequestPacer:
    """A token bucket on the client's side: `rate` requests a second, up to `burst` at once.

    `delay()` takes a token and says how long to sleep first (0 when one is available). The clock is
    injectable so tests can check the arithmetic without sleeping.
    """

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    @property
    def active(self) -> bool:
        return self.rate > 0

    def delay(self) -> float:
        if not self.active:
            return 0.0
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0  # taken now; a negative balance is the debt the sleep pays off
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
