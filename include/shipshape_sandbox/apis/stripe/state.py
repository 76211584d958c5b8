"""What the Stripe emulation keeps per sandbox beside the world (`StripeState`, reached through
`state_for`): idempotency results, rate-limit buckets, the request behind each API-made event, fields set
through the API, and per-revision indexes for filtered lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.state import PerSandbox
from shipshape_sandbox.apis.stripe import limits
from shipshape_sandbox.ratelimit import Buckets

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from shipshape_sandbox.server import Sandbox
    from shipshape_sandbox.world import StripeRefund, World


@dataclass
class _Saved:
    """An idempotent request's first result, replayed for the same key and parameters for 24 hours."""

    created: Any  # world clock when first used
    method: str
    path: str
    fingerprint: tuple
    status: int
    body: bytes
    request_id: str


class StripeState:
    """What the Stripe emulation keeps beside the world: idempotency results, rate-limit buckets, the
    request behind each API-made event, fields set through the API that the world does not model, and
    per-revision indexes for filtered lists."""

    def __init__(self, sandbox: Sandbox, clock: Callable[[], float] = time.monotonic) -> None:
        self.sandbox = sandbox
        self.set_clock(clock)
        self.idempotency: dict[tuple[str, str], _Saved] = {}
        self.event_requests: dict[str, tuple[str | None, str | None, dict[str, Any] | None]] = {}
        self.extras: dict[str, dict[str, Any]] = {}  # object id -> {field: value} set through the API
        self._index_revision = -1
        self._indexes: dict[Any, Any] = {}

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Rebuild the rate-limit buckets on `clock` (tests drive refills without sleeping)."""
        self.clock = clock
        self.global_buckets = {
            rate: Buckets(rate, rate, clock) for rate in (limits.TEST_MODE_RATE, limits.LIVE_MODE_RATE)
        }
        self.endpoint_buckets = Buckets(limits.ENDPOINT_RATE, limits.ENDPOINT_RATE, clock)
        self.pi_update_buckets = Buckets(limits.PI_UPDATES_PER_HOUR, limits.PI_UPDATES_PER_HOUR / 3600, clock)

    @property
    def world(self) -> World:
        return self.sandbox.world

    # --- indexes for filtered lists, rebuilt once per world revision
    def index(self, name: str, rows: list[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
        def build() -> dict[Any, list[Any]]:
            groups: dict[Any, list[Any]] = {}
            for row in rows:  # rows are newest first, so every group is too
                k = key(row)
                if k is not None:
                    groups.setdefault(k, []).append(row)
            return groups

        return self.memo(name, build)

    def memo(self, name: Any, build: Callable[[], Any]) -> Any:
        revision = self.world.revision
        if revision != self._index_revision:
            self._indexes.clear()
            self._index_revision = revision
        found = self._indexes.get(name)
        if found is None:
            found = self._indexes[name] = build()
        return found

    def refunds_of_charge(self, charge_id: str) -> list[StripeRefund]:
        rows = self.world.stripe_refunds.sorted_by("created", reverse=True)
        return self.index("refunds.charge", rows, _attr("charge")).get(charge_id, [])


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, name)


# The Stripe emulation's state for this sandbox (tests use it to drive the rate-limit clock).
state_for: PerSandbox[StripeState] = PerSandbox(StripeState)
