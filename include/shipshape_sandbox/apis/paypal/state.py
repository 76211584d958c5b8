"""What the emulated PayPal remembers besides the world (`_State`): issued tokens, `PayPal-Request-Id`
results, tracker items, the trackers-by-capture index and cached searches.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from shipshape_sandbox.ratelimit import Buckets
    from shipshape_sandbox.world import PayPalTracker, World


@dataclass
class _Token:
    value: str
    client_id: str
    expires_at: float  # time.time()


@dataclass
class _Replay:
    status: int
    body: Any
    stored_at: float


@dataclass
class _State:
    """What the emulated PayPal remembers besides the world: tokens, request ids, indexes and caches."""

    tokens: dict[str, _Token] = field(default_factory=dict)
    current: dict[str, _Token] = field(default_factory=dict)  # client_id -> live token
    replays: dict[str, _Replay] = field(default_factory=dict)
    tracker_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # tracker id -> items
    tracker_index: tuple[int, dict[str, list[PayPalTracker]]] | None = None
    searches: OrderedDict = field(default_factory=OrderedDict)
    buckets: Buckets | None = None


def trackers_by_capture(world: World, state: _State) -> dict[str, list[PayPalTracker]]:
    """Trackers grouped by capture id, rebuilt only when the world changed behind our back."""
    if state.tracker_index is not None and state.tracker_index[0] == world.revision:
        return state.tracker_index[1]
    index: dict[str, list[PayPalTracker]] = {}
    for tracker in world.paypal_trackers.sorted_by("create_time"):
        index.setdefault(tracker.transaction_id, []).append(tracker)
    state.tracker_index = (world.revision, index)
    return index


def add_tracker(world: World, state: _State, tracker: PayPalTracker) -> None:
    """Add a tracker and keep the capture index current without a full rebuild."""
    index = trackers_by_capture(world, state)
    world.paypal_trackers.add(tracker)
    index.setdefault(tracker.transaction_id, []).append(tracker)
    state.tracker_index = (world.revision, index)
