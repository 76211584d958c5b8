"""What the emulated ShipHero remembers besides the world (`ShipHeroState`: tokens, credit and request
buckets, order fields the world's records do not hold, cached listings), one per sandbox (`state_for`),
and the constants of ShipHero's API the other modules share.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipshape_sandbox import lifecycle
from shipshape_sandbox.apis.state import PerSandbox, cached_for_revision
from shipshape_sandbox.ratelimit import Buckets
from shipshape_sandbox.server import Sandbox

API = "shiphero"
TOKEN_TTL = 2_419_200  # seconds: ShipHero access tokens live 28 days
TOKEN_SCOPE = "openid profile offline_access"
TOKEN_ISSUER = "https://shiphero.auth0.com/"
TOKEN_AUDIENCE = "shiphero-public-api"
MAX_CREDITS = 4004
CREDITS_PER_SECOND = 60
REQUESTS_PER_WINDOW = 7000  # ShipHero's hard cap: 7000 requests in any 5 minutes
REQUEST_WINDOW_SECONDS = 300
DEFAULT_PAGE = 100  # a connection without first/last answers (and is charged for) 100 items
MUTATION_COST = 10
THROTTLE_CODE = 30
SHOP_NAME = "api"  # shop_name ShipHero gives orders created through the API without one
WAREHOUSE_IDENTIFIER = "Primary"
CANCELED = "canceled"


@dataclass
class ShipHeroState:
    """What the emulated ShipHero remembers besides the world: tokens, credits, and order fields the
    world's compact records do not hold. ``clock`` drives token expiry and credit refills (tests swap it)."""

    sandbox: Sandbox
    clock: Callable[[], float] = time.time
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> extra rendered fields
    _seq: int = 0
    _cache: dict[tuple, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seed = self.sandbox.world.seed
        self.secret = hashlib.sha256(f"shipshape-sandbox:{seed}:shiphero-jwt".encode()).hexdigest()
        self.credits = Buckets(MAX_CREDITS, CREDITS_PER_SECOND, clock=self._now)
        self.requests = Buckets(
            REQUESTS_PER_WINDOW, REQUESTS_PER_WINDOW / REQUEST_WINDOW_SECONDS, clock=self._now
        )
        username = self.sandbox.credentials.shiphero_username
        self.subject = "auth0|" + hashlib.sha256(f"{seed}:{username}".encode()).hexdigest()[:24]
        self.account_id = lifecycle.relay_id("Account", 40_000 + seed % 10_000)
        # ShipHero's refresh token "remains active and static as long as the account is active": one per
        # account, derived from the seed so it survives a sandbox restart like a stored credential would.
        raw = hashlib.blake2b(f"{self.secret}:refresh".encode(), digest_size=36).digest()
        self.refresh_token = base64.urlsafe_b64encode(raw).decode()[:45]

    def _now(self) -> float:
        return self.clock()

    def request_id(self) -> str:
        """24 hex digits, like the Mongo ObjectIds ShipHero answers with."""
        self._seq += 1
        tail = hashlib.blake2b(f"{self.secret}:rid:{self._seq}".encode(), digest_size=8).hexdigest()
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}{tail}"

    def cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """Memoise a listing for the world's current revision (a sync pages the same filter many times)."""
        return cached_for_revision(self._cache, self.sandbox.world.revision, key, compute)


# The ShipHero emulation's state for a sandbox (tests use it to drive the credit clock).
state_for: PerSandbox[ShipHeroState] = PerSandbox(ShipHeroState)
