"""The Stripe REST client: secret-key bearer auth, a pinned API version, and client-side pacing.

Plain httpx through `ApiClient` rather than the stripe SDK: the ingest runner injects transports and
owns retries, and the SDK would retry on its own. Stripe specifics handled here:

* auth: `Authorization: Bearer <secret key>` (the connection's password). The key is static, so there
  is no token to refresh and a 401 fails at once.
* `Stripe-Version` is pinned (connection extra `stripe_version` overrides it), so every object we read
  from a list or a retrieve has one shape whatever the account's default version is. Event payloads
  are the exception: Stripe renders an event's `data.object` in the version the event was created
  with (`event.api_version`), which the streams check.
* throttling: Stripe's 429s carry no Retry-After, so the retry loop backs off exponentially; the pacer
  (`ratelimit.py`) keeps us under the documented rate so that a normal run sees no 429 at all.
* reads only: idempotency keys are for POSTs and not needed here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import ApiClient, ApiError, RetryPolicy
from shipshape.ingest.limits import SharedBucket, SharedBuckets, bucket_key
from shipshape.secrets import register_secret
from shipshape.sources.stripe.ratelimit import RequestPacer, configured_rate, limited_reason

log = logging.getLogger(__name__)

# The API version every request is rendered in. It is the sandbox account's default, so events (which
# Stripe renders in the account default of their day) need no re-retrieval there; against a real
# account, set extra.stripe_version to the version the account's events carry, or pay one retrieve per
# changed object (see streams.py).
STRIPE_VERSION = "2026-10-28.endive"


class StripeClient(ApiClient):
    name = "stripe"

    def __init__(
        self,
        conn: Connection,
        transport: httpx.BaseTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = conn.password
        if not key:
            raise ValueError(f"connection {conn.conn_id!r} has no password: put the Stripe secret key there")
        register_secret(key)  # the connection registers it too; this also covers hand-built connections
        self.version = str(conn.extra.get("stripe_version") or STRIPE_VERSION)
        super().__init__(
            conn.base_url,
            headers={
                "Authorization": f"Bearer {key}",
                "Stripe-Version": self.version,
                "Accept": "application/json",
                "User-Agent": "shipshape-ingest",
            },
            retry=retry,
            transport=transport,
        )
        self.pacer = RequestPacer(configured_rate(conn.extra, key), clock=clock)
        self.shared: SharedBucket | None = None
        self._account = bucket_key("stripe", conn.base_url, key)
        self.throttled = 0  # 429s Stripe answered
        self.paced = 0.0  # seconds spent waiting for the pacer
        self.http.event_hooks["response"].append(self._observe)

    def share_buckets(self, store: SharedBuckets) -> None:
        # One request at a time, `rate` a second, for all the account's streams together: the same
        # no-burst spacing as the local pacer, but the four Stripe tasks no longer each send at the full
        # rate. The local pacer's slow-down on a 429 still applies on top (someone else spends it).
        self.shared = store.bucket(self._account, 1.0, self.pacer.ceiling)

    def before_request(self) -> None:
        delay = self.pacer.delay()
        if self.shared is not None:
            # The shared bucket sets the account's pace; the local pacer only adds its 429 slow-down.
            delay = max(self.shared.reserve(1), delay if self.pacer.rate < self.pacer.ceiling else 0.0)
        if delay > 0:
            # Not through `wait()`: at 25 requests a second that would log every request.
            self.paced += delay
            self.waited += delay
            self.retry.sleep(delay)

    def _observe(self, response: httpx.Response) -> None:
        """Every response, retried or not, feeds the pacer (a 429 slows it, a success speeds it up)."""
        if response.status_code == 429:
            self.throttled += 1
            self.pacer.throttled()
            log.info("stripe: throttled on %s %s (%s); backing off, pacing now %.1f requests/s",
                     response.request.method, response.request.url.path, limited_reason(response.headers),
                     self.pacer.rate)
        elif response.status_code < 400:
            self.pacer.succeeded()

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET `path` and return its JSON object (parsed once)."""
        response = self.request("GET", path, params=params)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"stripe: GET {path} answered {response.status_code} with a body that is not JSON",
                           status=response.status_code) from None
        if not isinstance(body, dict):
            raise ApiError(f"stripe: GET {path} answered a JSON {type(body).__name__}, not an object",
                           status=response.status_code)
        return body

    def close(self) -> None:
        if self.requests:
            log.info("stripe: %d requests (%d retried, %d answered 429), %.1f s paced to stay under %.0f requests/s",
                     self.requests, self.retries, self.throttled, self.paced, self.pacer.ceiling)
        super().close()
