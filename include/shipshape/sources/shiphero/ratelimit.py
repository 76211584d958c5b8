"""ShipHero's credit arithmetic: how many credits a query costs, how many the account has, how long to wait.

ShipHero throttles its GraphQL API by credits, not requests: an account holds at most 4004 credits,
60 are restored every second, and each operation is charged its complexity. A connection costs its page
size (`first`, or 100 when `first` is missing) times one plus what each of its nodes costs in nested
connections; objects and scalars are free; the operation itself costs 1. An operation that needs more
credits than the account has is refused with error code 30, whose `time_remaining` ("7 seconds") says
when it would fit. Separately, more than 7000 requests in 5 minutes answers HTTP 429 with Retry-After
(handled by the shared retry loop).

So the client keeps an estimate of the account's credits. Every query also selects the top-level
`user_quota { credits_remaining }` (1 credit), so each answer carries the service's own count after
charging it; that count is trusted over any local arithmetic (ShipHero charges for what it actually
returned, which can be less than the page asked for, and a sandbox with rate limits off charges
nothing). Without it (or before the first answer) the estimate is lowered by the operation's reported
`complexity`, or corrected by a code-30 error's `remaining_credits`, and refilled by the restore rate
as time passes. Before a request whose expected cost the estimate can't pay, the client waits
(required - remaining) / rate seconds instead of being refused. Under the ingest runner the three
ShipHero streams spend one account, so the client reserves each operation's credits from the warehouse's
shared bucket instead (`shipshape.ingest.limits`, corrected by the same `credits_remaining` counts), and
this local estimate only serves a client used on its own.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_CREDITS = 4004  # ShipHero's bucket, and the most one operation may cost
RESTORE_RATE = 60.0  # credits restored per second
DEFAULT_CONNECTION_SIZE = 100  # what ShipHero charges for a connection asked without `first`
THROTTLE_CODE = 30  # "There are not enough credits to perform the requested operation"
QUOTA_FIELD = "user_quota { credits_remaining }"  # selected beside every query: the count after charging
QUOTA_COST = 1  # what that selection adds to the operation's complexity


def connection_cost(first: int | None, node_cost: int = 0) -> int:
    """What one connection costs: its page size times (1 + what each node's own connections cost)."""
    size = DEFAULT_CONNECTION_SIZE if first is None else max(0, first)
    return size * (1 + node_cost)


def operation_cost(*connections: int, quota: bool = True) -> int:
    """An operation's complexity: 1, plus the cost of every connection it selects (plus 1 for the
    `user_quota` selection beside it)."""
    return 1 + sum(connections) + (QUOTA_COST if quota else 0)


def page_size_within(budget: float, node_cost: int, wanted: int) -> int:
    """The largest page of nodes costing `node_cost` each that one operation can pay from `budget`."""
    fits = int((budget - 1 - QUOTA_COST) // (1 + node_cost))
    return max(1, min(wanted, fits))


_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(second|sec|s|minute|min|m|hour|h)?", re.IGNORECASE)


def parse_time_remaining(value: object) -> float | None:
    """Seconds from ShipHero's `time_remaining` ("7 seconds"; a bare number counts as seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    if not isinstance(value, str):
        return None
    match = _SECONDS.search(value)
    if not match:
        return None
    amount = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    if unit.startswith("h"):
        amount *= 3600
    elif unit.startswith("m"):
        amount *= 60
    return amount


@dataclass
class CreditBudget:
    """The client's running estimate of the account's credits.

    `remaining` is None until the service has told us (user_quota, a code-30 error) or we have spent
    some; an unknown budget is assumed full, and the first code-30 answer corrects it.
    """

    capacity: float = MAX_CREDITS
    restore_rate: float = RESTORE_RATE
    clock: Callable[[], float] = time.monotonic
    spent: float = 0.0  # credits charged this run (what the responses reported)
    _remaining: float | None = field(default=None, init=False)
    _stamp: float = field(default=0.0, init=False)

    def available(self) -> float:
        """Credits the account has now, by our estimate (refilled since the last observation)."""
        if self._remaining is None:
            return self.capacity
        refilled = self._remaining + (self.clock() - self._stamp) * self.restore_rate
        return min(self.capacity, refilled)

    def delay_for(self, required: float) -> float:
        """Seconds to wait before an operation of `required` credits can be paid; 0 if it can now."""
        required = min(required, self.capacity)  # more than the bucket holds is refused outright anyway
        shortfall = required - self.available()
        if shortfall <= 0:
            return 0.0
        # A millisecond more than exact (0.06 credits): an exact wait can land a float's hair short.
        return math.ceil((shortfall / self.restore_rate + 0.001) * 1000) / 1000

    def charge(self, cost: float, *, remaining: float | None = None) -> None:
        """An operation was executed and charged `cost` credits; `remaining` is the service's count after
        it, when the answer carried one (trusted over our arithmetic)."""
        self.spent += cost
        if remaining is not None:
            self.observe(remaining)
            return
        now_available = self.available()
        self._remaining, self._stamp = now_available - cost, self.clock()

    def observe(self, remaining: float, *, capacity: float | None = None, restore_rate: float | None = None) -> None:
        """The service reported the account's credits (and possibly its bucket): trust it over our estimate."""
        if capacity:
            self.capacity = float(capacity)
        if restore_rate:
            self.restore_rate = float(restore_rate)
        self._remaining, self._stamp = float(remaining), self.clock()


def throttle_wait(error: dict, budget: CreditBudget) -> float:
    """Seconds to wait after a code-30 error: its `time_remaining`, else what the credits it reports imply.

    The service rounds `time_remaining` up to whole seconds, so waiting it out always leaves enough.
    """
    remaining = error.get("remaining_credits")
    required = error.get("required_credits")
    if isinstance(remaining, int | float):
        budget.observe(remaining)
    told = parse_time_remaining(error.get("time_remaining"))
    if told is not None:
        return told
    if isinstance(required, int | float):
        return math.ceil(budget.delay_for(required))
    return 1.0
