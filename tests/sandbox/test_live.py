"""A live sandbox follows the wall clock: its history ends now, its clock moves with real time while it is
served, its records are stamped in wall-clock time (what Airflow's data intervals are in), and `speed`
compresses the store's activity (arrivals and the delays between an order's steps), not time."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from shipshape_sandbox.generate import build_world
from shipshape_sandbox.live import LiveClock, now_minute
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox


def health(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/_sandbox/health", timeout=10) as response:
        return json.loads(response.read())


def test_a_live_world_ends_now_and_its_clock_follows_the_wall_clock():
    start = now_minute()
    world = build_world(300, seed=11, start=start)
    before = len(world.shopify_orders)
    assert world.clock == start and max(o.created_at for o in world.shopify_orders) <= start
    # 36000x: a real second is ten hours of store activity (300 orders over 30 days: ~0.4 an hour)
    sandbox = Sandbox(world, faults="none", rate_limits="off", live=LiveClock(speed=36000, tick_seconds=0.1))
    with running(sandbox) as base:
        time.sleep(6)
        seen = health(base)
        wall = datetime.now(UTC)
    stopped = datetime.now(UTC)  # the ticker is stopped: nothing moves after this
    clock = datetime.fromisoformat(seen["clock"])
    assert seen["live"] == {"speed": 36000}
    assert wall - timedelta(seconds=2) <= clock <= wall, (clock, wall)
    arrived = [o for o in world.shopify_orders if o.created_at > start]
    assert len(world.shopify_orders) - before == len(arrived) >= 10, "about 60 hours of orders arrived"
    assert all(start < o.created_at <= world.clock <= stopped for o in arrived), "stamped in wall-clock time"
    # an order reaches the 3PL 5-45 minutes after it is placed: well under a second at 36000x
    sent = " ".join(str(sh.partner_order_id) for sh in world.shiphero_orders)
    settled = [o for o in arrived if o.created_at < wall - timedelta(seconds=2) and o.cancelled_at is None
               and world.plans[o.id].gateway != "manual" and "MISSING_IN_3PL" not in world.plans[o.id].codes]
    assert settled and all(str(o.id) in sent for o in settled)


def test_an_ordinary_sandbox_keeps_its_clock_until_advanced():
    world = build_world(100, seed=12)
    clock = world.clock
    with running(Sandbox(world, faults="none", rate_limits="off")) as base:
        time.sleep(0.5)
        assert health(base)["clock"] == clock.isoformat() and health(base)["live"] is None
    assert world.clock == clock and world.pace == 1.0


def test_a_live_world_is_kept_on_disk_and_resumed(tmp_path):
    from shipshape_sandbox.live import load_world

    state = tmp_path / "world.pickle"
    world = build_world(100, seed=13, start=now_minute())
    with running(Sandbox(world, faults="none", rate_limits="off",
                         live=LiveClock(speed=36000, tick_seconds=0.1, state_path=state))):
        time.sleep(1)
    kept = load_world(state)
    assert kept is not None and kept.clock == world.clock and len(kept.shopify_orders) == len(world.shopify_orders)
    assert [o.id for o in kept.shopify_orders] == [o.id for o in world.shopify_orders]
    time.sleep(0.5)
    assert LiveClock(speed=36000).catch_up(kept) > 0 and kept.clock > world.clock, "it resumes from where it stopped"
    assert load_world(tmp_path / "none.pickle") is None
