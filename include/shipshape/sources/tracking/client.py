"""The carrier tracking API client (EasyPost-style): HTTP Basic with the API key, JSON over GET.

EasyPost authenticates with the API key as the Basic username and an empty password; the connection
`tracking_default` holds the key as its password. The real service lives at https://api.easypost.com/v2;
the sandbox serves the same paths under /tracking/v2, so the client accepts a base URL either with or
without the /v2 suffix. Errors have EasyPost's `{"error": {"code", "message", "errors"}}` body; 429s
and 5xx are repeated by the shared retry loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import ApiClient, ApiError, RetryPolicy
from shipshape.ingest.limits import SharedBuckets, bucket_key
from shipshape.sources.tracking.ratelimit import RequestPacer


class TrackingClient(ApiClient):
    name = "tracking"

    def __init__(
        self,
        conn: Connection,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
    ) -> None:
        api_key = conn.password or conn.extra.get("api_key")
        if not api_key:
            raise ApiError("tracking: the connection has no API key (password)")
        base_url = conn.base_url
        self.prefix = "" if base_url.rstrip("/").endswith("/v2") else "/v2"
        super().__init__(base_url, headers={"Accept": "application/json"}, transport=transport, retry=retry,
                         timeout=timeout, auth=httpx.BasicAuth(api_key, ""))
        self.clock = clock
        self.pacer: RequestPacer | None = None
        self._store: SharedBuckets | None = None
        self._account = bucket_key("tracking", base_url, api_key)
        # A deployment that knows its account's limit sets it on the connection, as for Stripe and PayPal.
        self.configure({"tracking_requests_per_second": conn.extra.get("requests_per_second"),
                        "tracking_burst": conn.extra.get("burst", 1)})

    def configure(self, settings: dict[str, Any]) -> None:
        rate = settings.get("tracking_requests_per_second")
        if rate:
            self.pacer = RequestPacer(float(rate), float(settings.get("tracking_burst") or 1), clock=self.clock)

    def share_buckets(self, store: SharedBuckets) -> None:
        self._store = store

    def before_request(self) -> None:
        if self.pacer is None:
            return
        if self._store is not None:  # every task using this key paces together
            delay = self._store.bucket(self._account, self.pacer.burst, self.pacer.rate).reserve(1)
        else:
            delay = self.pacer.delay()
        self.wait(delay, "pacing to the configured request rate")

    def get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self.request("GET", self.prefix + path, params=params)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"tracking: {path} answered non-JSON with HTTP {response.status_code}",
                           status=response.status_code) from None
        if not isinstance(body, dict):
            raise ApiError(f"tracking: {path} answered {type(body).__name__}, not an object")
        return body
