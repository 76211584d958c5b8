"""The Stripe emulation's constants (the default API version, retention, idempotency) and the ids it
makes: request ids and stable base62 tokens for ids the sandbox does not store.
"""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta
from functools import lru_cache

API = "stripe"
# The account's default API version: the one stripe-python 16.1 pins, so SDK and sandbox agree.
DEFAULT_API_VERSION = "2026-10-28.endive"
EVENT_RETENTION = 30 * 86400  # Stripe lists and retrieves events from the last 30 days only
IDEMPOTENCY_TTL = timedelta(hours=24)
EMBEDDED_LIST_LIMIT = 10

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_rng = random.Random()


def _request_id() -> str:
    return "req_" + "".join(_rng.choices(_B62, k=14))


@lru_cache(maxsize=200_000)
def _token(label: str, n: int) -> str:
    """A stable base62 token for ids the sandbox does not store (pm_, client secrets, fingerprints)."""
    value = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=24).digest(), "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, 62)
        out.append(_B62[r])
    return "".join(out)


def _digest(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big")
