"""The PayPal REST client: OAuth2 client credentials, a cached bearer token, client-side pacing.

PayPal's REST APIs take a bearer token from `POST /v1/oauth2/token` (HTTP Basic with the app's client id
and secret, form body `grant_type=client_credentials`). The token lives `expires_in` seconds (about
9 h); asking again while it is alive returns the same token, so the client caches it and asks again
only shortly before it expires, or when PayPal answers 401 (`invalid_token`: the token expired or was
revoked early). Every token obtained is registered with `shipshape.secrets` so no log shows it; the
client secret travels only in the Basic header of the token request.

Connection `paypal_default`: login = client id, password = client secret, host `api-m.paypal.com`
(`api-m.sandbox.paypal.com` for PayPal's own sandbox, or the local sandbox with extra.base_path
`/paypal`); extra `requests_per_second` paces requests (see `ratelimit`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import ApiClient, ApiError, RetryPolicy
from shipshape.ingest.limits import SharedBucket, SharedBuckets, bucket_key
from shipshape.secrets import register_secret
from shipshape.sources.paypal.ratelimit import RequestPacer, requests_per_second

log = logging.getLogger(__name__)

TOKEN_PATH = "/v1/oauth2/token"
# Renew this long before `expires_in` runs out, so no request leaves with a token about to die.
TOKEN_MARGIN_SECONDS = 300.0
MAX_REFRESHES_IN_A_ROW = 2  # a fresh token refused again means the app lacks rights: stop, don't loop


class _Bearer(httpx.Auth):
    """Adds the client's current access token to each request (read at send time, so a refresh applies)."""

    def __init__(self, client: PayPalClient) -> None:
        self.client = client

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.client.token is not None:
            request.headers["Authorization"] = f"Bearer {self.client.token}"
        yield request


class PayPalClient(ApiClient):
    name = "paypal"

    def __init__(
        self,
        conn: Connection,
        transport: httpx.BaseTransport | None = None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not conn.login or not conn.password:
            raise ValueError(f"connection {conn.conn_id!r} needs login = PayPal client id, password = secret")
        super().__init__(conn.base_url, headers={"Accept": "application/json"}, retry=retry,
                         transport=transport, auth=_Bearer(self))
        self._credentials = httpx.BasicAuth(conn.login, conn.password)
        self.clock = clock
        self.token: str | None = None
        self.token_expires_at = 0.0
        self.tokens_obtained = 0
        self.pacer = RequestPacer(requests_per_second(conn.extra), clock=clock)
        self.shared: SharedBucket | None = None
        self._app = bucket_key("paypal", conn.base_url, conn.login)
        # Streams may send requests from a few threads: one token fetch at a time, one pacer, and
        # per-thread flags (this thread is fetching the token; how many refreshes it did in a row).
        self._token_lock = threading.Lock()
        self._pace_lock = threading.Lock()
        self._local = threading.local()

    # --- the hooks ApiClient calls
    def share_buckets(self, store: SharedBuckets) -> None:
        # The transactions and trackers tasks spend one app's budget: pace them together.
        if self.pacer.active:
            self.shared = store.bucket(self._app, self.pacer.burst, self.pacer.rate)

    def before_request(self) -> None:
        if not self._in_token_request():
            self._ensure_token()
        if self.shared is not None:
            delay = 0.0 if self._in_token_request() else self.shared.reserve(1)
        else:
            with self._pace_lock:
                delay = self.pacer.delay()
        if delay > 0:  # routine pacing: counted, not logged per request (it would flood the task log)
            self.waited += delay
            self.retry.sleep(delay)

    def on_unauthorized(self) -> bool:
        if self._in_token_request():
            return False  # the client id or secret is wrong: retrying cannot help
        refreshes = getattr(self._local, "refreshes", 0)
        if refreshes >= MAX_REFRESHES_IN_A_ROW:
            return False
        self._local.refreshes = refreshes + 1
        log.info("paypal: access token refused (expired or revoked); fetching a new one")
        with self._token_lock:
            self.token_expires_at = 0.0  # before_request fetches a new one for the retry
        return True

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = super().request(method, path, **kwargs)
        if not self._in_token_request():  # only an API call that went through proves the token good
            self._local.refreshes = 0
        return response

    # --- OAuth2 client credentials
    def _in_token_request(self) -> bool:
        return getattr(self._local, "fetching", False)

    def _token_alive(self) -> bool:
        return self.token is not None and self.clock() < self.token_expires_at

    def _ensure_token(self) -> None:
        if self._token_alive():
            return
        with self._token_lock:
            if not self._token_alive():  # another thread may have fetched it while this one waited
                self._fetch_token()

    def _fetch_token(self) -> None:
        self._local.fetching = True
        try:
            response = self.request("POST", TOKEN_PATH, data={"grant_type": "client_credentials"},
                                    auth=self._credentials)
        finally:
            self._local.fetching = False
        body = response.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError("paypal: the token endpoint answered without an access_token", status=response.status_code)
        register_secret(token)  # before anything could log it
        lifetime = float(body.get("expires_in") or 0)
        # Renew at the margin, or halfway through a (unusually) short lifetime.
        self.token = token
        self.token_expires_at = self.clock() + max(0.0, lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 2))
        self.tokens_obtained += 1
        log.info("paypal: obtained an access token valid for %d s", int(lifetime))

    # --- JSON helpers: each response parsed once
    def get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = self.request("GET", path, params=params).json()
        if not isinstance(body, dict):
            raise ApiError(f"paypal: GET {path} answered {type(body).__name__}, not an object")
        return body
