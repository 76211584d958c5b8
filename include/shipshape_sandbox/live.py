"""A live sandbox: the world's clock follows the wall clock, so Airflow's schedules meet it as they would
meet the real services.

The world is built with its history ending now (its clock at the current minute), and while it is
served a ticker on the server's event loop moves its clock to the wall clock every few seconds: new
orders arrive, payments settle, orders reach the 3PL, ship and are scanned, as real time passes.

Timestamps stay wall-clock time, so an ingest run's data interval means the same moment in Airflow and
in the sandbox. `speed` compresses the store's *activity*, not time: at `speed=60` an hour's worth of
orders arrives per real minute and every delay between two steps of an order (sent to the 3PL, shipped,
in transit, delivered, refunded) is 60 times shorter. The rules' durations (the 1-hour grace before
MISSING_IN_3PL, the 72-hour shipping SLA) and PayPal's 3-hour publishing lag stay real time.

With a `state_path` the world is kept on disk (a pickle, written every minute and when the server
stops) and a restarted live sandbox loads it and catches up to the wall clock, so a warehouse that has
ingested it keeps telling the same story after `make down` and `make up`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shipshape_sandbox.world import World

log = logging.getLogger(__name__)


def now_minute() -> datetime:
    """The current wall-clock minute (UTC): where a live world's history ends."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass
class LiveClock:
    """How a served world follows the wall clock."""

    speed: float = 1.0  # store activity per unit of real time
    tick_seconds: float = 2.0
    state_path: Path | None = None  # where the world is kept between runs (None: not kept)
    save_every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"speed must be positive, not {self.speed}")

    def catch_up(self, world: World, now: datetime | None = None) -> int:
        """Move the world's clock to `now` (never back); returns the events applied."""
        from shipshape_sandbox import lifecycle

        now = now or datetime.now(UTC)
        world.pace = self.speed
        if now <= world.clock:
            return 0
        return lifecycle.advance(world, now - world.clock)

    @asynccontextmanager
    async def ticking(self, world: World) -> AsyncIterator[None]:
        """Keep `world` on the wall clock while the context is open (the server's lifespan). The world is
        only touched on the event loop, between requests, like every handler touches it."""

        async def tick() -> None:
            saved = time.monotonic()
            while True:
                try:
                    applied = self.catch_up(world)
                    if applied:
                        log.debug("live sandbox: %d events, clock %s", applied, world.clock.isoformat())
                    if self.state_path is not None and time.monotonic() - saved > self.save_every_seconds:
                        save_world(world, self.state_path)
                        saved = time.monotonic()
                except Exception:  # a broken event must not stop the clock for the rest of the world
                    log.exception("live sandbox: advancing the world failed")
                await asyncio.sleep(self.tick_seconds)

        task = asyncio.create_task(tick(), name="sandbox-live-clock")
        try:
            yield
        finally:
            task.cancel()
            if self.state_path is not None:
                save_world(world, self.state_path)


def save_world(world: World, path: Path) -> None:
    """Write the world to `path` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        pickle.dump(world, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    log.info("live sandbox: world saved to %s (clock %s)", path, world.clock.isoformat())


def load_world(path: Path) -> World | None:
    """The world kept at `path` by an earlier live sandbox, or None when there is none. Only ever a file
    this machine's own sandbox wrote (pickle runs code on load)."""
    if not path.exists():
        return None
    with path.open("rb") as f:
        world = pickle.load(f)  # noqa: S301 - our own state file, in the project's data folder
    if not isinstance(world, World):
        raise TypeError(f"{path} does not hold a sandbox world")
    return world
