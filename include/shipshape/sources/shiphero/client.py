"""ShipHero's public API client: JWT auth with refresh, GraphQL over POST, credit-aware throttling.

Auth (developer.shiphero.com, "Authentication"): `POST /auth/token` with the developer user's username
and password answers an access token (a JWT valid 28 days, `expires_in` seconds) and a refresh token;
`POST /auth/refresh` with the refresh token answers a new access token. The connection's login and
password are the username and password; a connection may instead carry `extra.refresh_token` (what
ShipHero's UI hands a third-party developer user), which is then used first. Every token obtained is
registered for log masking. A token is refreshed shortly before it expires, and on a 401.

Throttling: see `ratelimit`. GraphQL answers HTTP 200 even when refused for credits (error code 30 in
`errors`), so that case is handled in `throttle_delay`; the request is then repeated after the wait the
service names. Other GraphQL errors fail the request: a partial answer is never loaded.
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
from shipshape.sources.shiphero.ratelimit import QUOTA_COST, THROTTLE_CODE, CreditBudget, throttle_wait

log = logging.getLogger(__name__)

REFRESH_MARGIN = 0.1  # refresh once 90 % of a token's life has passed …
REFRESH_MARGIN_MAX = 3600.0  # … or an hour before it expires, whichever comes first
QUOTA_QUERY = "query Quota { user_quota { credits_remaining max_available increment_rate } }"


class ShipHeroClient(ApiClient):
    name = "shiphero"

    def __init__(
        self,
        conn: Connection,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(conn.base_url, headers={"Accept": "application/json"}, transport=transport,
                         retry=retry, timeout=timeout)
        self.username = conn.login
        self.password = conn.password
        self.refresh_token: str | None = conn.extra.get("refresh_token") or None
        register_secret(self.refresh_token)
        self.clock = clock
        self.credits = CreditBudget(clock=clock)
        self.probe_quota = True  # ask user_quota once before the first operation (1 credit)
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._authenticating = False
        self._expected_cost = 0  # the operation about to be sent, for the credit check in before_request
        self._parsed: tuple[httpx.Response, Any] | None = None  # the body throttle_delay already parsed
        self.throttled = 0  # code-30 answers received (each one repeated after its wait)
        # The account's credits as every task of this source spends them (see `share_buckets`), and the
        # credits the request in flight reserved there (settled when its answer arrives).
        self._store: SharedBuckets | None = None
        self._account = bucket_key("shiphero", conn.base_url, self.username or self.refresh_token)
        self._reserved: float | None = None

    # ------------------------------------------------------------------------------------- settings
    def configure(self, settings: dict[str, Any]) -> None:
        """Apply run settings: `shiphero_max_credits`, `shiphero_restore_rate`, `shiphero_probe_quota`."""
        if settings.get("shiphero_max_credits"):
            self.credits.capacity = float(settings["shiphero_max_credits"])
        if settings.get("shiphero_restore_rate"):
            self.credits.restore_rate = float(settings["shiphero_restore_rate"])
        if "shiphero_probe_quota" in settings:
            self.probe_quota = bool(settings["shiphero_probe_quota"])

    # ----------------------------------------------------------------------------------------- auth
    def _token_stale(self) -> bool:
        return self._access_token is None or self.clock() >= self._expires_at

    def _authenticate(self) -> None:
        """Get an access token: by refresh token when we have one, else (or if it is refused) by password."""
        self._authenticating = True
        try:
            body = None
            if self.refresh_token:
                try:
                    body = self._auth_call("/auth/refresh", {"refresh_token": self.refresh_token})
                except ApiError as exc:
                    if exc.status not in (401, 403) or not (self.username and self.password):
                        raise
                    log.warning("shiphero: refresh token refused (HTTP %s); signing in again", exc.status)
            if body is None:
                if not (self.username and self.password):
                    raise ApiError("shiphero: the connection has neither login/password nor extra.refresh_token")
                body = self._auth_call("/auth/token", {"username": self.username, "password": self.password})
        finally:
            self._authenticating = False
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ApiError("shiphero: the auth endpoint answered no access_token")
        register_secret(token)
        if isinstance(body.get("refresh_token"), str):
            self.refresh_token = body["refresh_token"]
            register_secret(self.refresh_token)
        lifetime = float(body.get("expires_in") or 3600)
        self._access_token = token
        self._expires_at = self.clock() + lifetime - min(REFRESH_MARGIN * lifetime, REFRESH_MARGIN_MAX)
        self.http.headers["Authorization"] = f"Bearer {token}"
        log.info("shiphero: obtained an access token valid %.0f s", lifetime)

    def _auth_call(self, path: str, payload: dict[str, str]) -> dict[str, Any]:
        body = self.request("POST", path, json=payload).json()
        if not isinstance(body, dict):
            raise ApiError(f"shiphero: {path} answered {type(body).__name__}, not an object")
        return body

    def on_unauthorized(self) -> bool:
        if self._authenticating:
            return False  # wrong credentials: nothing to refresh
        self._access_token = None  # before_request signs in again before the repeat
        return True

    # ------------------------------------------------------------------------------------- requests
    def share_buckets(self, store: SharedBuckets) -> None:
        self._store = store

    def _shared(self) -> SharedBucket | None:
        if self._store is None:
            return None
        # Half a second of restore below the account's size: a reservation made while the bucket is full
        # reaches ShipHero a moment later, when the restore it counted on was capped away.
        margin = 0.5 * self.credits.restore_rate
        return self._store.bucket(self._account, self.credits.capacity - margin, self.credits.restore_rate,
                                  reports=True)

    def _settle(self, *, charged: float | None, remaining: float | None) -> None:
        reserved, self._reserved = self._reserved, None
        shared = self._shared()
        if reserved is not None and shared is not None:
            shared.settle(reserved, charged=charged, reported=remaining)

    def before_request(self) -> None:
        if self._authenticating:
            return
        if self._token_stale():
            self._authenticate()
        if self._reserved is not None:  # the last attempt got no answer to settle with: nothing was charged
            self._settle(charged=0, remaining=None)
        shared = self._shared() if self._expected_cost else None
        if shared is not None:
            # Every stream of the account queues on one bucket: wait for this operation's turn.
            self._reserved = float(self._expected_cost)
            delay = shared.reserve(self._expected_cost)
            if delay > 0:
                self.wait(delay, f"credits: the next operation needs {self._expected_cost}, shared by every "
                                 f"ShipHero stream, {self.credits.restore_rate:g} restored/s")
        elif self._expected_cost:
            delay = self.credits.delay_for(self._expected_cost)
            if delay > 0:
                self.wait(delay, f"credits: the next operation needs {self._expected_cost}, about "
                                 f"{self.credits.available():.0f} left, {self.credits.restore_rate:g} restored/s")

    def throttle_delay(self, response: httpx.Response) -> float | None:
        if self._authenticating:
            return None
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"shiphero: {response.request.url.path} answered non-JSON with HTTP "
                           f"{response.status_code}", status=response.status_code) from None
        self._parsed = (response, body)
        errors = body.get("errors") if isinstance(body, dict) else None
        for error in errors or ():
            if isinstance(error, dict) and error.get("code") == THROTTLE_CODE:
                self.throttled += 1
                wait = throttle_wait(error, self.credits)
                if self._reserved is not None:  # refused, so charged nothing; the repeat reserves again
                    remaining = error.get("remaining_credits")
                    self._settle(charged=0, remaining=remaining if isinstance(remaining, int | float) else None)
                    wait = 0.0
                log.info("shiphero: refused for credits (needs %s, has %s); the service says wait %s",
                         error.get("required_credits"), error.get("remaining_credits"), error.get("time_remaining"))
                return wait
        return None

    def _body(self, response: httpx.Response) -> Any:
        parsed, self._parsed = self._parsed, None
        if parsed is not None and parsed[0] is response:
            return parsed[1]
        return response.json()

    def graphql(self, query: str, variables: dict[str, Any], *, field: str, cost: int) -> dict[str, Any]:
        """Run one query whose complexity is expected to be `cost`; the `{request_id, complexity, data}`
        wrapper of its top-level `field`. Waits for credits first; raises on any GraphQL error."""
        if self.probe_quota:
            self.probe_quota = False
            self._probe()
        self._expected_cost = cost
        try:
            response = self.request("POST", "/graphql", json={"query": query, "variables": variables})
        finally:
            self._expected_cost = 0
        body = self._body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            messages = "; ".join(str(e.get("message", e))[:300] for e in errors[:3] if isinstance(e, dict))
            if len(errors) > 3:
                messages += f" (and {len(errors) - 3} more errors)"
            raise ApiError(f"shiphero: {field} failed: {messages}", status=response.status_code, body=errors)
        data = body.get("data") or {}
        wrapper = data.get(field)
        if not isinstance(wrapper, dict):
            raise ApiError(f"shiphero: {field} answered no result", status=response.status_code)
        charged = wrapper.get("complexity")
        charged = charged + (QUOTA_COST if "user_quota" in data else 0) if isinstance(charged, int | float) else cost
        remaining = (data.get("user_quota") or {}).get("credits_remaining")
        remaining = remaining if isinstance(remaining, int | float) else None
        self.credits.charge(charged, remaining=remaining)
        self._settle(charged=charged, remaining=remaining)
        return wrapper

    def _probe(self) -> None:
        """Learn the account's credits (and bucket) from `user_quota` before spending any."""
        self._expected_cost = 1
        try:
            response = self.request("POST", "/graphql", json={"query": QUOTA_QUERY, "variables": {}})
        finally:
            self._expected_cost = 0
        body = self._body(response)
        quota = ((body.get("data") or {}).get("user_quota") if isinstance(body, dict) else None) or {}
        remaining = quota.get("credits_remaining")
        if isinstance(remaining, int | float):
            self.credits.observe(remaining, capacity=quota.get("max_available"),
                                 restore_rate=quota.get("increment_rate"))
            self._settle(charged=QUOTA_COST, remaining=remaining)
            log.info("shiphero: %s credits available (bucket %g, %g restored/s)", remaining,
                     self.credits.capacity, self.credits.restore_rate)
        else:
            self.credits.charge(QUOTA_COST)
