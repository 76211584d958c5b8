"""Fault injection: the sandbox misbehaves the way real APIs do, so the pipeline's reliability is tested.

- `none`: a well-behaved service.
- `flaky`: about 5 % of API requests answer 5xx, about 3 % answer 429 with Retry-After, some are slow,
  and now and then a page repeats the last record of the page before it.
- `hostile`: flaky, plus malformed records: a null id, a negative amount, an unknown currency or an
  unparseable timestamp. Which records are malformed is fixed by the seed, so a retry sees the same ones.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

MODES = ("none", "flaky", "hostile")
CORRUPTIONS = ("null_id", "negative_amount", "unknown_currency", "bad_timestamp")


def _path_set(record: dict, path: tuple[str, ...], value: Any) -> bool:
    node: Any = record
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    if not isinstance(node, dict) or path[-1] not in node:
        return False
    node[path[-1]] = value
    return True


def _path_get(record: dict, path: tuple[str, ...]) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


@dataclass
class FaultPolicy:
    mode: str = "none"
    seed: int = 0
    error_rate: float = 0.05
    throttle_rate: float = 0.03
    slow_rate: float = 0.02
    slow_seconds: float = 0.4
    repeat_rate: float = 0.05  # chance that a page boundary repeats a record
    malformed_rate: float = 0.01  # share of records malformed under `hostile`
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"faults must be one of {', '.join(MODES)}, not {self.mode!r}")
        self._rng = random.Random(self.seed * 7919 + 17)

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def roll_request(self) -> str | None:
        """What goes wrong with this request: 'error', 'throttle', 'slow' or None."""
        if not self.active:
            return None
        r = self._rng.random()
        if r < self.error_rate:
            return "error"
        if r < self.error_rate + self.throttle_rate:
            return "throttle"
        if r < self.error_rate + self.throttle_rate + self.slow_rate:
            return "slow"
        return None

    def repeat_boundary(self) -> bool:
        """Whether the next page should start with the last record of this one again."""
        return self.active and self._rng.random() < self.repeat_rate

    def malformation(self, kind: str, record_id: str) -> str | None:
        """The corruption this record gets under `hostile`, fixed by seed, kind and id; None for most."""
        if self.mode != "hostile":
            return None
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{record_id}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        if (value % 10_000) / 10_000 >= self.malformed_rate:
            return None
        return CORRUPTIONS[(value // 10_000) % len(CORRUPTIONS)]

    def corrupt(
        self,
        kind: str,
        record: dict,
        *,
        id_path: tuple[str, ...],
        amount_path: tuple[str, ...] | None = None,
        currency_path: tuple[str, ...] | None = None,
        timestamp_path: tuple[str, ...] | None = None,
    ) -> dict:
        """Malform a rendered record in place (hostile only), choosing one corruption the record can carry.

        Amounts are negated keeping their type (an integer or a decimal string); timestamps are replaced
        with text no parser accepts, keeping the field's type where it is an integer (Stripe) by using a
        string, which is exactly what breaks a careless loader.
        """
        record_id = _path_get(record, id_path)
        corruption = self.malformation(kind, str(record_id))
        if corruption is None:
            return record
        if corruption == "negative_amount" and amount_path:
            amount = _path_get(record, amount_path)
            if isinstance(amount, int) and amount > 0:
                _path_set(record, amount_path, -amount)
                return record
            if isinstance(amount, str) and amount and not amount.startswith("-"):
                _path_set(record, amount_path, "-" + amount)
                return record
        if corruption == "unknown_currency" and currency_path:
            current = _path_get(record, currency_path)
            if isinstance(current, str):
                _path_set(record, currency_path, "zzz" if current.islower() else "ZZZ")
                return record
        if corruption == "bad_timestamp" and timestamp_path:
            if _path_set(record, timestamp_path, "2026-13-45T25:61:00Z"):
                return record
        _path_set(record, id_path, None)
        return record
