"""What the `shipshape_ingest` DAG's tasks call: one stream for one data interval, against the
warehouse of the `shipshape_warehouse` connection (or the embedded one when it is unset)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shipshape import warehouse
from shipshape.ingest.catalog import all_streams
from shipshape.ingest.runner import run_stream

log = logging.getLogger(__name__)


def ingest_stream(
    stream_key: str,
    *,
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str,
    lookback_minutes: float = 120,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    streams = all_streams()
    if stream_key not in streams:
        raise KeyError(f"unknown stream {stream_key!r}; known: {', '.join(sorted(streams))}")
    if data_interval_end <= data_interval_start:
        raise ValueError(
            f"empty data interval [{data_interval_start}, {data_interval_end}): schedule shipshape_ingest "
            "on an interval timetable (CronDataIntervalTimetable), not a trigger timetable"
        )
    result = run_stream(
        streams[stream_key],
        warehouse_url=warehouse.url(),
        interval_start=data_interval_start,
        interval_end=data_interval_end,
        run_id=run_id,
        lookback=timedelta(minutes=lookback_minutes),
        settings=settings,
    )
    return result.as_dict()
