"""Leaky buckets for the sandbox's rate limits (Shopify query cost, ShipHero credits, request rates).

The clock is injectable so tests can drive refills without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Bucket:
    """A bucket of `capacity` points refilled at `restore_rate` points per second."""

    capacity: float
    restore_rate: float
    clock: Callable[[], float] = time.monotonic
    available: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.available = self.capacity
        self._stamp = self.clock()

    def refill(self) -> float:
        now = self.clock()
        self.available = min(self.capacity, self.available + (now - self._stamp) * self.restore_rate)
        self._stamp = now
        return self.available

    def try_take(self, cost: float) -> tuple[bool, float]:
        """Take `cost` points if there are enough; returns (taken, seconds until `cost` would fit)."""
        self.refill()
        if cost <= self.available:
            self.available -= cost
            return True, 0.0
        return False, (cost - self.available) / self.restore_rate

    def give_back(self, points: float) -> None:
        """Refund points taken for a request that cost less than estimated (Shopify refunds the difference)."""
        self.available = min(self.capacity, self.available + points)


class Buckets:
    """One bucket per key (an access token, an account), created on first use."""

    def __init__(self, capacity: float, restore_rate: float, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    def __getitem__(self, key: str) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.capacity, self.restore_rate, self.clock)
        return bucket
