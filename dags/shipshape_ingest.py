"""shipshape_ingest: every source stream into `raw.<source>__<stream>`, hourly, one task per stream.

Each run extracts its data interval widened back by the `lookback_minutes` param; each task updates
the Asset of its raw table, which `shipshape_reconcile` is scheduled on. Logic lives in
`shipshape.ingest`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from shipshape.ingest.catalog import all_streams, raw_asset_uri


@dag(
    dag_id="shipshape_ingest",
    # An interval timetable: each run covers [data_interval_start, data_interval_end) of an hour.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs of one stream must not interleave: each commits its cursor
    tags=["shipshape", "ingest"],
    default_args={"retries": 3, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    params={"lookback_minutes": Param(120, type="number", minimum=0, description="widen each window back by this")},
    doc_md=__doc__,
)
def shipshape_ingest():
    @task
    def extract(stream_key: str, params=None, data_interval_start=None, data_interval_end=None, run_id=None):
        from shipshape.ingest.tasks import ingest_stream

        return ingest_stream(stream_key, data_interval_start=data_interval_start,
                             data_interval_end=data_interval_end, run_id=run_id,
                             lookback_minutes=float(params["lookback_minutes"]))

    streams = all_streams()
    tasks = {}
    for key in streams:
        table = key.replace(".", "__")
        tasks[key] = extract.override(
            task_id=f"extract_{table}", outlets=[Asset(name=f"raw.{table}", uri=raw_asset_uri(key))]
        )(key)
    for key, stream in streams.items():
        for upstream in stream.after:
            tasks[upstream] >> tasks[key]


shipshape_ingest()
