"""The HTTP client every source builds on: retries with backoff that honour Retry-After, and a hook for a
service's own throttle signals (Shopify's cost bucket, ShipHero's credits) that answer 200.

Every retry and wait is logged with the method and path only: credentials travel in headers, which
are never logged, and secrets read from connections are masked by `shipshape.secrets` anyway.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """A request that failed for good (a 4xx other than throttling, or retries exhausted)."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def backoff(self, attempt: int) -> float:
        """Exponential with full jitter: attempt 1 waits up to base, then 2x, 4x … capped."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling / 2 + self.rng.random() * ceiling / 2


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class ApiClient:
    """An httpx client with a base URL, default headers and a retry loop.

    `transport` lets tests and `shipshape sandbox dump-raw` talk to an in-process ASGI app; the code
    path is otherwise exactly the one that talks to the real service.
    """

    name = "api"

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=timeout, transport=transport,
                                 auth=auth)
        self.requests = 0
        self.retries = 0
        self.waited = 0.0

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        log.info("%s: waiting %.2f s (%s)", self.name, seconds, why)
        self.waited += seconds
        self.retry.sleep(seconds)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Seconds to wait before repeating a request the service throttled without a 429; None if not."""
        return None

    def before_request(self) -> None:
        """Hook: refresh a token, or wait for a local rate-limit bucket."""

    def share_buckets(self, store: Any) -> None:
        """Hook: spend this source's rate limit from `store` (`shipshape.ingest.limits.SharedBuckets`), the
        buckets every task of the source shares, instead of pacing this client alone."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            self.before_request()
            self.requests += 1
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{self.name}: {method} {path} failed after {attempt} attempts: {exc!r}") from exc
                self.retries += 1
                self.wait(self.retry.backoff(attempt), f"{type(exc).__name__} on {method} {path}, attempt {attempt}")
                continue
            if response.status_code in RETRY_STATUSES or response.status_code == 401 and self.on_unauthorized():
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{self.name}: {method} {path} answered {response.status_code} "
                                   f"{attempt} times", status=response.status_code, body=_body(response))
                self.retries += 1
                delay = retry_after_seconds(response)
                if delay is None or response.status_code == 401:
                    delay = self.retry.backoff(attempt) if response.status_code != 401 else 0.0
                self.wait(min(delay, self.retry.max_delay),
                          f"HTTP {response.status_code} on {method} {path}, attempt {attempt}")
                continue
            if response.status_code >= 400:
                raise ApiError(f"{self.name}: {method} {path} answered {response.status_code}: "
                               f"{str(_body(response))[:500]}", status=response.status_code, body=_body(response))
            delay = self.throttle_delay(response)
            if delay is not None:
                if attempt >= self.retry.max_attempts * 4:
                    raise ApiError(f"{self.name}: {method} {path} still throttled after {attempt} attempts")
                self.wait(delay, f"throttled by the service on {method} {path}")
                continue
            return response

    def on_unauthorized(self) -> bool:
        """Hook: a 401 on an expired token; refresh it and return True to retry once more."""
        return False


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
