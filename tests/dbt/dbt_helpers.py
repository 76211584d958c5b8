"""What the dbt tests share: a seeded sandbox world dumped through the real extraction into a warehouse,
the keyword arguments of `shipshape.dbt.run` for it, and what a model's last run recomputed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from shipshape import warehouse
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.world import World


def dumped_world(url: str, orders: int, seed: int) -> World:
    """A world of `orders` orders (seed `seed`), its raw tables dumped into the bootstrapped warehouse `url`."""
    world = build_world(orders, seed=seed)
    warehouse.bootstrap(url)
    dump_raw(world, url)
    return world


def dbt_kwargs(url: str, tmp_path: Path) -> dict[str, Any]:
    """`shipshape.dbt.run`'s keyword arguments for the warehouse `url`, its output under `tmp_path`."""
    return dict(url=url, target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)


def recomputed(url: str, model: str) -> int | None:
    """How many keys the latest run of `model` recomputed (None: all of them)."""
    with psycopg.connect(url) as conn:
        keys, everything = conn.execute(
            "select count(key), bool_or(key is null) from ops.dbt_model_scope where model = %s",
            (model,)).fetchone()
    return None if everything else keys
