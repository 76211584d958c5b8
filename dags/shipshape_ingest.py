"""shipshape_ingest: every source stream into `raw.<source>__<stream>`, one task per stream, hourly (the
setting SHIPSHAPE_INGEST_SCHEDULE, a cron expression, changes it).

Each stream reads from where it got to: from its committed high-water mark (or the run's interval start,
if earlier) widened back by the `lookback_minutes` param, to the interval end, so a run after a gap
(runs paused, the scheduler down) closes it. Each task updates the Asset of its raw table, which
`shipshape_reconcile` is scheduled on, with the window it read in the event's extra. Logic lives in
`shipshape.ingest`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from shipshape.ingest.catalog import all_streams, raw_asset
from shipshape.ingest.schedule import ingest_schedule


@dag(
    dag_id="shipshape_ingest",
    # An interval timetable: each run covers [data_interval_start, data_interval_end) between two ticks of
    # the cron (SHIPSHAPE_INGEST_SCHEDULE, hourly by default).
    schedule=CronDataIntervalTimetable(ingest_schedule(), timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs of one stream must not interleave: each commits its cursor
    tags=["shipshape", "ingest"],
    default_args={"owner": "shipshape", "retries": 3, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    params={"lookback_minutes": Param(120, type="number", minimum=0, description="widen each window back by this")},
    doc_md=__doc__,
)
def shipshape_ingest():
    @task
    def extract(stream_key: str, params=None, data_interval_start=None, data_interval_end=None, run_id=None,
                outlet_events=None):
        from shipshape.ingest.tasks import ingest_stream

        result = ingest_stream(stream_key, data_interval_start=data_interval_start,
                               data_interval_end=data_interval_end, run_id=run_id,
                               lookback_minutes=float(params["lookback_minutes"]))
        # the window read travels with the Asset event: a reconcile it triggers judges as of its end
        outlet_events[raw_asset(stream_key)].extra = {k: result[k] for k in ("window_start", "window_end")}
        return result

    streams = all_streams()
    tasks = {}
    for key in streams:
        table = key.replace(".", "__")
        tasks[key] = extract.override(task_id=f"extract_{table}", outlets=[raw_asset(key)])(key)
    for key, stream in streams.items():
        for upstream in stream.after:
            tasks[upstream] >> tasks[key]


shipshape_ingest()
