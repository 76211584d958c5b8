"""The as-of of a `shipshape_reconcile` run: the one moment its dbt models, gates and push judge at.

Stated once, here, and resolved once per run by the DAG's first task (`as_of`), whose XCom every other
task reads (the dbt var `as_of`, both gates, the push). The rule, first that applies:

1. **Triggered by ingest's Assets** (the scheduled case): the moment up to which *every* raw stream the
   run consumed is loaded. Each `shipshape_ingest` task puts the end of the window it read in its asset
   event's extra (`window_end`); the as-of is the earliest, over the run's assets, of the newest
   window end each carries. Judging later would read a stream's silence past its window as "nothing
   happened" (an order not yet in ShipHero would look missing).
2. **A run with a data interval** (`dag.test()`, a manual run from the trigger form, a backfill): its
   data interval end, but not after the moment up to which every stream is loaded in the warehouse
   (`ops.extraction_runs`). The trigger form's logical date is "now", a little past the last ingest
   window: judging there would read the streams' silence since as "nothing happened", and the raw
   gate's coverage check would refuse the run.
3. **Anything else** (a manual run with no logical date, asset events posted by hand without a
   window end): where every stream is loaded through, but not after the run was due (`run_after`).

A retried or cleared dbt task, gate or push reads the same XCom, so it judges at the same moment. Two
runs that consume the same ingest windows get the same as-of, and so the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg

WINDOW_END = "window_end"  # the asset event extra each ingest task sets


def parse_moment(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime or ISO text; None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def from_asset_events(events: Iterable[tuple[str, Mapping[str, Any] | None]]) -> datetime | None:
    """Rule 1: `events` are (asset uri, extra) pairs; None when no event carries a window end."""
    newest: dict[str, datetime] = {}
    for uri, extra in events:
        end = parse_moment((extra or {}).get(WINDOW_END))
        if end is not None and (uri not in newest or end > newest[uri]):
            newest[uri] = end
    return min(newest.values()) if newest else None


def loaded_through(warehouse_url: str) -> datetime | None:
    """Rule 3's bound: the moment up to which every stream ever loaded is loaded (the earliest of the
    streams' latest window ends), from ops.extraction_runs; None before any load."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        if conn.execute("select to_regclass('ops.extraction_runs')").fetchone()[0] is None:
            return None
        return conn.execute(
            "select min(loaded_through) from (select max(window_end) as loaded_through"
            " from ops.extraction_runs group by source, stream) as streams").fetchone()[0]


def resolve(*, asset_events: Iterable[tuple[str, Mapping[str, Any] | None]], data_interval_end: datetime | None,
            run_after: datetime | None, warehouse_url: str | None = None) -> tuple[datetime, str]:
    """The run's as-of and which rule gave it (for the task log)."""
    events = list(asset_events)
    moment = from_asset_events(events)
    if moment is not None:
        return moment, f"the end of the newest ingest window every one of the {len(events)} asset events' streams reached"
    loaded = loaded_through(warehouse_url) if warehouse_url else None
    if data_interval_end is not None:
        end = parse_moment(data_interval_end)
        if loaded is not None and loaded < end:
            return loaded, (f"the moment every stream is loaded through (ops.extraction_runs), before the run's "
                            f"data interval end {end.isoformat()}")
        return end, "the run's data interval end"
    if run_after is None:
        raise ValueError("the run has no triggering ingest window, no data interval and no run_after: "
                         "nothing to judge as of")
    if loaded is None or loaded > run_after:
        return parse_moment(run_after), "the moment the run was due (run_after)"
    return loaded, "the moment every stream is loaded through (ops.extraction_runs), before run_after"
