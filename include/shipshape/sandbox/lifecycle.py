"""What happens in the merchant's world: orders are placed, paid, sent to the 3PL, shipped, tracked,
refunded, edited and cancelled, each action writing to the systems that would really see it.

The generator drives these actions (and the deliberate disagreements) for thousands of orders; tests call
them directly to hand-build tiny worlds; the API modules call the same helpers when a mutation arrives,
so a correction changes the world exactly as the real service would.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from shipshape.sandbox.world import StripeEvent, World, epoch


def stripe_event(world: World, type_: str, obj: Any, previous_attributes: dict[str, Any] | None = None) -> StripeEvent:
    """Record a Stripe event carrying a snapshot of `obj` as it is now (Stripe events are immutable)."""
    kind = type_.split(".", 1)[0]
    if type_.startswith("charge.dispute."):
        kind = "dispute"
    n = world.next_id("stripe_event")
    event = StripeEvent(
        id=f"evt_{n:08d}{world.seed:04d}SbX{n * 7919 % 100000:05d}",
        created=epoch(world.clock),
        type=type_,
        object_kind=kind,
        snapshot=copy.copy(obj),
        previous_attributes=previous_attributes,
    )
    if hasattr(obj, "updated"):
        obj.updated = event.created
    world.stripe_events.add(event)
    return event


def advance(world: World, delta: timedelta) -> int:
    """Move the clock forward by `delta`, applying every scheduled event on the way; returns how many."""
    raise NotImplementedError("filled in with the generator")
