"""What every per-target writer shares: the `Writer` protocol and its `Outcome`, the host guard, the
sandbox test, and the read-check-write loop for APIs without idempotency keys.

Writers live with their source (`shipshape.sources.<target>.corrections`) and reuse its client (auth,
rate limits, retries). Each exposes `open_writer(conn, options) -> Writer`.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from shipshape.connections import Connection
from shipshape.corrections.plan import Action
from shipshape.ingest.http import RETRY_STATUSES, ApiClient, ApiError, RetryPolicy

log = logging.getLogger(__name__)

# The Airflow connection each target is written through (SPEC.md's connection names).
CONNECTION_IDS = {
    "shiphero": "shiphero_default",
    "paypal": "paypal_default",
    "stripe": "stripe_default",
    "shopify": "shopify_default",
}
SANDBOX_MARKER = "sandbox"


@dataclass(frozen=True)
class Outcome:
    status: str  # applied | skipped
    detail: str
    response: Any = None


class WriteError(RuntimeError):
    """The target refused the change for good (validation, a state it cannot move from)."""

    def __init__(self, message: str, *, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


class ForeignHostError(RuntimeError):
    """A request to a host other than the connection's: never sent."""


class Writer(Protocol):
    target: str

    def apply(self, action: Action) -> Outcome: ...

    def close(self) -> None: ...


@dataclass
class WriterOptions:
    retry: RetryPolicy | None = None
    transport: httpx.BaseTransport | None = None
    checked_attempts: int = 3  # read-check-write rounds for APIs without idempotency keys
    sleep: Callable[[float], None] = time.sleep
    settings: dict[str, Any] = field(default_factory=dict)
    # every target's connection, for a writer that must read the system that is right at write time
    connections: dict[str, Connection | None] = field(default_factory=dict)


def open_writer(target: str, conn: Connection, options: WriterOptions) -> Writer:
    module = importlib.import_module(f"shipshape.sources.{target}.corrections")
    return module.open_writer(conn, options)


# ------------------------------------------------------------------------------------------ hosts
def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def guard_host(client: ApiClient, conn: Connection) -> None:
    """Refuse, before it leaves, any request whose origin is not the connection's (an absolute URL taken
    from a response, a redirect): the push writes only where its connection points."""
    allowed = _origin(conn.base_url)

    def check(request: httpx.Request) -> None:
        if _origin(request.url) != allowed:
            raise ForeignHostError(f"{conn.conn_id}: refused a request to {request.url.scheme}://{request.url.host}"
                                   f" (the connection's host is {allowed[1]})")

    client.http.event_hooks["request"].append(check)
    client.http.follow_redirects = False


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_sandbox(conn: Connection) -> bool:
    """The local sandbox, and nothing else: the connection says so (extra `sandbox: true`, which the
    sandbox's connection helpers set) AND it points at a loopback address. A real API host never passes,
    whatever its extra says."""
    flag = conn.extra.get(SANDBOX_MARKER)
    marked = flag is True or (isinstance(flag, str) and flag.strip().lower() in ("true", "1", "yes"))
    try:
        host = _origin(conn.base_url)[1]
    except ValueError:
        return False
    return marked and is_loopback(host)


# ------------------------------------------------------------------------------- write without keys
def transient(exc: BaseException) -> bool:
    """An error after which the write may or may not have happened (or was refused only for now)."""
    if isinstance(exc, ApiError):
        return exc.status is None or exc.status in RETRY_STATUSES or exc.status == 401
    return isinstance(exc, httpx.TransportError)


@contextmanager
def single_attempt(client: ApiClient) -> Iterator[None]:
    """Send one request without the client's blind retries: after a 5xx or a dropped connection a write
    without an idempotency key may have happened, so the caller reads the state again instead."""
    saved = client.retry
    client.retry = replace(saved, max_attempts=1)
    try:
        yield
    finally:
        client.retry = saved


def checked_write(read: Callable[[], Any], done: Callable[[Any], str | None], write: Callable[[Any], Any], *,
                  attempts: int, sleep: Callable[[float], None], what: str,
                  moved_on: Callable[[Any], str | None] | None = None) -> Outcome:
    """Read the target right before writing: stop if it already agrees, or if it has moved on from the
    state the plan was made for; else write once. After an uncertain failure read again before deciding
    to write again.

    `done(state)` returns why nothing is needed (the target agrees), or None; `moved_on(state)` returns
    why the action no longer applies (the target changed since the plan: an order shipped, a quantity
    sold), or None. Either ends the action `skipped` with that reason, except that `done` after an
    uncertain answer means the write went through. `write(state)` may itself return an `Outcome`, for a
    target that refuses the write because it moved on in between (a compare-and-set that failed)."""
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        state = read()
        reason = done(state)
        if reason is not None:
            if attempt == 1:
                return Outcome("skipped", reason)
            return Outcome("applied", f"confirmed by reading it back after an uncertain answer ({reason})")
        stale = moved_on(state) if moved_on is not None else None
        if stale is not None:
            return Outcome("skipped", stale)
        try:
            response = write(state)
        except BaseException as exc:
            if not transient(exc):
                raise
            last = exc
            log.info("%s: uncertain answer (%s); reading the target again before any repeat", what, exc)
            sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
            continue
        if isinstance(response, Outcome):
            return response
        return Outcome("applied", f"{what} sent", response)
    assert last is not None
    raise last
