"""Stripe's rate-limit arithmetic: how fast to send, how long to wait before the next request, and why.

Stripe documents its limits (https://docs.stripe.com/rate-limits) as requests per second per account:
100 in live mode and 25 in test mode (sandboxes) globally, and 25 per endpoint unless stated otherwise,
where an endpoint is one named operation (`GET /v1/charges`; every `GET /v1/charges/{id}` is another
one). A throttled request answers 429 with error code `rate_limit` and, unlike most APIs, **no
Retry-After** and no remaining-budget headers; live responses name the limiter that tripped in
`Stripe-Rate-Limited-Reason` (global-rate, global-concurrency, endpoint-rate, endpoint-concurrency,
resource-specific). So the only way to never be throttled is to pace requests client-side, and the only
answer to a 429 is to back off exponentially (the shared `ApiClient` retry loop does that when there is
no Retry-After).

The pacer here spaces requests `1/rate` apart (no bursts: a burst that fits our own bucket can still
arrive bunched at Stripe's). The default rate is 25/s in both modes: in test mode that is the global
limit, and in live mode a stream spends nearly all its requests on one list endpoint, whose own limit
is 25/s; it also leaves three quarters of the live budget to the merchant's checkout, as Stripe asks of
background jobs. `requests_per_second` in the connection's extra overrides it.

Several Stripe streams running at once share one account budget. Under the ingest runner they pace
together through the warehouse's shared bucket (`shipshape.ingest.limits`): one request every 1/rate s
for the whole account. When a 429 arrives anyway (another consumer of the account), the pacer halves its
rate (down to a floor) and wins it back additively on successes, on top of the shared pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

TEST_MODE_RATE = 25.0  # requests per second, global, test mode (sandboxes)
LIVE_MODE_RATE = 100.0  # requests per second, global, live mode
ENDPOINT_RATE = 25.0  # requests per second per endpoint, both modes, unless Stripe says otherwise
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")

# Why Stripe throttled, by the value of its Stripe-Rate-Limited-Reason header.
LIMITED_REASONS = {
    "global-rate": "the account's requests per second",
    "global-concurrency": "the account's concurrent requests",
    "endpoint-rate": "this endpoint's requests per second",
    "endpoint-concurrency": "this endpoint's concurrent requests",
    "resource-specific": "a per-object limit (e.g. updates per PaymentIntent per hour)",
}


def documented_rate(secret_key: str | None) -> float:
    """The fastest Stripe allows one stream to read: min(global limit of the key's mode, endpoint limit)."""
    live = bool(secret_key) and secret_key.startswith(LIVE_KEY_PREFIXES)
    return min(LIVE_MODE_RATE if live else TEST_MODE_RATE, ENDPOINT_RATE)


def configured_rate(extra: Mapping[str, Any], secret_key: str | None) -> float:
    """`requests_per_second` from the connection's extra, else the documented rate for the key's mode."""
    value = extra.get("requests_per_second")
    if value in (None, ""):
        return documented_rate(secret_key)
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"stripe connection extra requests_per_second={value!r} is not a number") from None
    if not rate > 0:
        raise ValueError(f"stripe connection extra requests_per_second={value!r} must be positive")
    return rate


def limited_reason(headers: Mapping[str, str]) -> str:
    """A readable reason for a 429, from Stripe's Stripe-Rate-Limited-Reason header when it sends one."""
    code = headers.get("Stripe-Rate-Limited-Reason")
    if not code:
        return "rate limit (Stripe sent no reason)"
    return f"{code}: {LIMITED_REASONS.get(code, 'a limit Stripe did not document')}"


class RequestPacer:
    """Paces requests at most `rate` per second, slowing down on 429s and recovering on successes.

    `delay()` reserves the next send slot and returns how long to sleep before taking it; the slot is
    the later of now and one interval after the previous slot, so a slow response uses up its own
    interval and costs no extra wait (pacing only bites when the API answers faster than the rate).
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic, floor: float = 0.2,
                 recovery: float = 0.02) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = rate
        self.rate = rate
        self.clock = clock
        self.minimum = rate * floor  # never slower than this fraction of the configured rate
        self.step = rate * recovery  # requests per second won back per successful response
        self._next_slot: float | None = None

    def delay(self) -> float:
        now = self.clock()
        slot = now if self._next_slot is None else max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        return slot - now

    def throttled(self) -> None:
        """Stripe answered 429 although we paced: someone else shares the budget; halve our share."""
        self.rate = max(self.minimum, self.rate / 2)

    def succeeded(self) -> None:
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.step)
