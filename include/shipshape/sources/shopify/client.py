"""The Shopify GraphQL Admin API client: token auth, cost-aware throttling, and bulk result downloads.

- Auth: the Admin API access token (the connection's password) in `X-Shopify-Access-Token`, on every
  GraphQL request and never anywhere else (not on the bulk result download, which lives on another host).
- Endpoint: `POST {base}/admin/api/{version}/graphql.json`; the version comes from the connection's
  `extra.api_version`. Shopify answers a retired version with the oldest supported one and says so in
  `X-Shopify-API-Version`: that is logged once, as schema changes would follow from it.
- Throttling: Shopify throttles by query cost inside HTTP 200 answers (see `ratelimit`). Before each
  request the client waits until its bucket estimate holds the request's cost (known from the last time
  the same query and page size ran); a `THROTTLED` answer is repeated after exactly the wait Shopify's
  own figures imply. Under the ingest runner both Shopify streams spend one shop's bucket, so once an
  answer has told the bucket's size the estimate is the warehouse's shared bucket
  (`shipshape.ingest.limits`): each request reserves its cost there and settles it from the answer.
  HTTP 429/5xx and transport errors are retried by `ApiClient` (Retry-After honoured).
- Query cost above the single-query maximum (1000, `MAX_COST_EXCEEDED`), or above the whole bucket, is
  raised as `QueryCostExceeded` so the pager can ask for smaller pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import RETRY_STATUSES, ApiClient, ApiError, RetryPolicy, retry_after_seconds
from shipshape.ingest.limits import SharedBucket, SharedBuckets, bucket_key
from shipshape.secrets import register_secret
from shipshape.sources.shopify.ratelimit import CostBucket

log = logging.getLogger(__name__)

# The version the sandbox serves by default (shipshape_sandbox.server.SHOPIFY_API_VERSION), named here so
# production code does not import the sandbox.
DEFAULT_API_VERSION = "2025-10"
TOKEN_HEADER = "X-Shopify-Access-Token"


class ShopifyGraphQLError(ApiError):
    """A GraphQL answer with `errors` (validation, access, execution): nothing of it is loaded."""


class QueryCostExceeded(ShopifyGraphQLError):
    """The query asks for more points than one query may cost, or than the bucket can ever hold."""

    def __init__(self, message: str, *, cost: float, limit: float) -> None:
        super().__init__(message)
        self.cost = cost
        self.limit = limit


class ShopifyClient(ApiClient):
    name = "shopify"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
    ) -> None:
        if not access_token:
            raise ValueError("the Shopify connection has no access token (set it as the connection's password)")
        register_secret(access_token)
        super().__init__(
            base_url,
            headers={TOKEN_HEADER: access_token, "Accept": "application/json", "User-Agent": "shipshape-ingest"},
            timeout=timeout,
            retry=retry,
            transport=transport,
        )
        self.api_version = api_version
        self.path = f"/admin/api/{api_version}/graphql.json"
        self.bucket = CostBucket(clock)
        self.throttled = 0  # THROTTLED answers received (each was waited out and repeated)
        self._costs: dict[tuple[str, Any], float] = {}  # requested cost by (query, page size), as last reported
        self._next_cost: float | None = None
        self._parsed: tuple[httpx.Response, Any] | None = None
        self._version_checked = False
        # The shop's bucket as every task of this app spends it (see `share_buckets`), and the points the
        # request in flight reserved there (settled from its answer's cost).
        self._store: SharedBuckets | None = None
        self._shop = bucket_key("shopify", base_url, access_token)
        self._reserved: float | None = None

    @classmethod
    def from_connection(cls, conn: Connection, transport: httpx.BaseTransport | None = None,
                        **kwargs: Any) -> ShopifyClient:
        token = conn.password or conn.extra.get("access_token")
        version = str(conn.extra.get("api_version") or DEFAULT_API_VERSION)
        return cls(conn.base_url, token, api_version=version, transport=transport, **kwargs)

    # ---------------------------------------------------------------------------------------- GraphQL
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query or mutation; returns its `data`. Waits out throttling; raises on any `errors`."""
        variables = variables or {}
        key = (query, variables.get("first"))
        self._next_cost = self._costs.get(key)
        try:
            response = self.request("POST", self.path, json={"query": query, "variables": variables})
        finally:
            self._next_cost = None
        body = self._body(response)
        self._check_version(response)
        cost = _dig(body, "extensions", "cost")
        if isinstance(cost, dict) and isinstance(cost.get("requestedQueryCost"), int | float):
            self._costs[key] = float(cost["requestedQueryCost"])
        errors = body.get("errors")
        if errors:
            raise self._error(errors, cost)
        data = body.get("data")
        if not isinstance(data, dict):
            raise ShopifyGraphQLError(f"shopify: an answer without data: {str(body)[:300]}", body=body)
        return data

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        """The response's JSON, parsed once (by `throttle_delay`, which sees every answer first)."""
        if self._parsed is not None and self._parsed[0] is response:
            body = self._parsed[1]
            self._parsed = None
        else:
            body = _json(response)
        if not isinstance(body, dict):
            raise ShopifyGraphQLError(f"shopify: not a GraphQL answer (HTTP {response.status_code}): "
                                      f"{response.text[:300]}", status=response.status_code)
        return body

    def _error(self, errors: Any, cost: Any) -> ShopifyGraphQLError:
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        extensions = first.get("extensions") or {}
        code = extensions.get("code")
        if code == "MAX_COST_EXCEEDED":
            return QueryCostExceeded(f"shopify: query cost {extensions.get('cost')} exceeds the single-query "
                                     f"maximum {extensions.get('maxCost')}",
                                     cost=float(extensions.get("cost") or 0), limit=float(extensions.get("maxCost") or 1000))
        if code == "THROTTLED" and isinstance(cost, dict):  # only returned when waiting can never help
            requested = float(cost.get("requestedQueryCost") or 0)
            maximum = float(_dig(cost, "throttleStatus", "maximumAvailable") or 0)
            return QueryCostExceeded(f"shopify: query cost {requested:g} exceeds the whole bucket ({maximum:g})",
                                     cost=requested, limit=maximum)
        messages = "; ".join(str(e.get("message")) if isinstance(e, dict) else str(e)
                             for e in (errors if isinstance(errors, list) else [errors]))
        return ShopifyGraphQLError(f"shopify: GraphQL errors ({code or 'no code'}): {messages[:500]}", body=errors)

    def _check_version(self, response: httpx.Response) -> None:
        if self._version_checked:
            return
        self._version_checked = True
        served = response.headers.get("X-Shopify-API-Version")
        if served and served != self.api_version:
            log.warning("shopify: asked for API version %s, Shopify served %s (a retired version falls "
                        "forward to the oldest supported one): update the connection's extra.api_version",
                        self.api_version, served)

    # ------------------------------------------------------------------------------------ throttling
    def share_buckets(self, store: SharedBuckets) -> None:
        self._store = store

    def _shared(self) -> SharedBucket | None:
        """The shared bucket, once an answer told us its size and restore rate (Shopify's plans differ)."""
        if self._store is None or not self.bucket.maximum or not self.bucket.restore_rate:
            return None
        # Half a second of restore below the size: a reservation made while the bucket is full reaches
        # Shopify a moment later, when the restore it counted on was capped away.
        rate = self.bucket.restore_rate
        return self._store.bucket(self._shop, self.bucket.maximum - 0.5 * rate, rate, reports=True)

    def before_request(self) -> None:
        shared = self._shared()
        if shared is None:
            seconds, why = self.bucket.delay_for(self._next_cost)
            self.wait(seconds, why)
            return
        if self._reserved is not None:  # the last attempt got no GraphQL answer: it cost nothing
            shared.settle(self._reserved, charged=0)
        # Both Shopify streams (and any other task of the app) queue on one bucket. A query whose cost is
        # not known yet reserves nothing but still waits behind the others' debt; its answer is charged.
        self._reserved = self._next_cost or 0.0
        seconds = shared.reserve(self._reserved)
        self.wait(seconds, f"query cost {self._reserved:g} from the shop's shared bucket, restoring at "
                           f"{self.bucket.restore_rate:g}/s")

    def _settle(self, cost: dict[str, Any], throttled: bool) -> None:
        shared = self._shared()
        if shared is None:
            return
        reported = _dig(cost, "throttleStatus", "currentlyAvailable")
        actual = 0.0 if throttled else float(cost.get("actualQueryCost") or 0)
        reserved, self._reserved = self._reserved, None
        if reserved is None:  # sent before the bucket was known: record what it cost
            reserved = actual
            shared.reserve(actual)
        shared.settle(reserved, charged=actual, reported=reported if isinstance(reported, int | float) else None)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        body = _json(response)
        self._parsed = (response, body)
        cost = _dig(body, "extensions", "cost")
        throttled = _throttled(body)
        if isinstance(cost, dict):
            self.bucket.observe(cost)
            self._settle(cost, throttled)
        if not throttled:
            return None
        requested = float(cost.get("requestedQueryCost") or 0) if isinstance(cost, dict) else 0.0
        if self.bucket.exceeds_bucket(requested):
            return None  # no wait will ever fit it: `graphql` raises QueryCostExceeded
        self.throttled += 1
        # Exactly (cost − available) / restoreRate, from the figures in this very answer.
        seconds, _ = self.bucket.delay_for(requested)
        # The next attempt is the same request: remember its cost so before_request checks it again.
        self._next_cost = requested or self._next_cost
        if self._shared() is not None:
            return 0.0  # before_request reserves it again, behind every other task's debt
        return seconds

    def pause(self, seconds: float, why: str) -> None:
        """A wait that is not a rate limit (bulk polling): counted, logged at debug only."""
        if seconds <= 0:
            return
        log.debug("shopify: waiting %.2f s (%s)", seconds, why)
        self.waited += seconds
        self.retry.sleep(seconds)

    # --------------------------------------------------------------------------------- bulk download
    def download_lines(self, url: str) -> Iterator[str]:
        """Stream a bulk result file line by line, retrying (and resuming past lines already read).

        The URL is absolute (a signed storage URL in production, the sandbox's own host here) and is fetched
        through this client's transport but without the access token: the token is for the Admin API only.
        Its query string is a signature granting access to the shop's data, so it is masked in logs.
        """
        register_secret(urlsplit(url).query or None)
        shown = _without_query(url)
        consumed = 0  # lines already handed out: a retry skips them
        attempt = 0
        while True:
            attempt += 1
            request = self.http.build_request("GET", url)
            request.headers.pop(TOKEN_HEADER, None)
            self.requests += 1
            try:
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                self._download_retry(attempt, f"{type(exc).__name__} downloading {shown}", None)
                continue
            try:
                if response.status_code in RETRY_STATUSES:
                    self._download_retry(attempt, f"HTTP {response.status_code} downloading {shown}",
                                         retry_after_seconds(response))
                    continue
                if response.status_code >= 400:
                    raise ApiError(f"shopify: bulk result download {shown} answered {response.status_code}",
                                   status=response.status_code)
                skip = consumed
                for line in response.iter_lines():
                    if skip:
                        skip -= 1
                        continue
                    consumed += 1
                    yield line
                return
            except httpx.TransportError as exc:  # the connection broke while reading: resume
                self._download_retry(attempt, f"{type(exc).__name__} while reading {shown} after "
                                     f"{consumed} lines", None)
            finally:
                response.close()

    def _download_retry(self, attempt: int, what: str, retry_after: float | None) -> None:
        if attempt >= self.retry.max_attempts:
            raise ApiError(f"shopify: {what}: gave up after {attempt} attempts")
        self.retries += 1
        delay = retry_after if retry_after is not None else self.retry.backoff(attempt)
        self.wait(min(delay, self.retry.max_delay), f"{what}, attempt {attempt}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _dig(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _throttled(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and _dig(e, "extensions", "code") == "THROTTLED" for e in errors)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
