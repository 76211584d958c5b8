"""Shopify's cost-based rate limit, as the client sees it: a leaky bucket of query-cost points.

Every GraphQL response reports `extensions.cost`: the query's `requestedQueryCost` (what it reserves
before running), its `actualQueryCost`, and `throttleStatus` — `currentlyAvailable` points right after
this request (the unused part of the reservation already refunded), `restoreRate` points per second and
`maximumAvailable` (the bucket's size: 2000 at 100/s on Standard plans). A request is served only if the
bucket holds its requested cost; otherwise Shopify answers HTTP 200 with a `THROTTLED` error and charges
nothing.

So the wait before a request of cost C is exactly `(C − available now) / restoreRate` (rounded up to the
millisecond), where "available now" is the last reported figure plus what has been restored since it was
reported: no more, no less. (Shopify measured that figure before its answer reached us, so the estimate
errs, if at all, towards waiting a little longer.)
The bucket is shared by every client of the same app and shop (both Shopify streams, other tasks), so
this is an estimate from our own last response; a `THROTTLED` answer corrects it with Shopify's figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class CostBucket:
    """The last reported state of Shopify's bucket, and the arithmetic of how long to wait for a cost."""

    clock: Callable[[], float] = time.monotonic
    available: float | None = None  # points, as of `observed_at`
    restore_rate: float | None = None  # points per second
    maximum: float | None = None
    observed_at: float = 0.0

    def observe(self, cost: dict[str, Any]) -> None:
        """Record a response's `extensions.cost`."""
        status = cost.get("throttleStatus") if isinstance(cost, dict) else None
        if not isinstance(status, dict):
            return
        try:
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
            self.maximum = float(status["maximumAvailable"])
        except (KeyError, TypeError, ValueError):
            return
        self.observed_at = self.clock()

    def available_now(self) -> float | None:
        """Points in the bucket now: the last report plus what was restored since, capped at the size."""
        if self.available is None or not self.restore_rate:
            return None
        restored = (self.clock() - self.observed_at) * self.restore_rate
        return min(self.maximum or float("inf"), self.available + restored)

    def delay_for(self, cost: float | None) -> tuple[float, str]:
        """Seconds to wait before a request of `cost` points fits, and why (0 when it fits or is unknown)."""
        available = self.available_now()
        if cost is None or available is None or cost - available <= 1e-6:
            return 0.0, ""
        # Rounded up to the next millisecond: a wait computed to the last bit can land a float's width
        # short of the cost on Shopify's side and be throttled for nothing.
        seconds = math.floor((cost - available) / self.restore_rate * 1000 + 1) / 1000
        return seconds, (f"query cost {cost:g} > {available:.0f} points available, restoring at "
                         f"{self.restore_rate:g}/s")

    def exceeds_bucket(self, cost: float) -> bool:
        """Whether `cost` can never be paid: more than the bucket holds even when full."""
        return self.maximum is not None and cost > self.maximum
