"""shipshape_reconcile: dbt over the raw tables, then the quality gate, then push_corrections.

Scheduled on the Assets `shipshape_ingest` updates (one per raw table): a run starts once every raw
table has been updated since the last run. dbt runs through Cosmos, a task per seed and model, each
followed by its tests; the tasks are rendered from the committed manifest `dbt_project/manifest.json`
(regenerate it with `make manifest` after changing models), so parsing this file never runs dbt. Every
model judges the data as of the run's data interval end (dbt var `as_of`), so a rerun gives the same
answer. The gate (Great Expectations) and `push_corrections` are placeholders here; issue 5 fills them.
Logic lives in `shipshape.reconcile`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, dag
from cosmos import DbtTaskGroup

from shipshape.ingest.catalog import all_streams, raw_asset_uri
from shipshape.reconcile import cosmos as wiring

RAW_ASSETS = [Asset(name=f"raw.{key.replace('.', '__')}", uri=raw_asset_uri(key)) for key in all_streams()]

# The as-of every model judges at: the data interval end (for an Asset-triggered run, the moment it
# was triggered when Airflow gives it no interval).
AS_OF = "{{ (data_interval_end or dag_run.run_after).isoformat() }}"


@dag(
    dag_id="shipshape_reconcile",
    schedule=RAW_ASSETS,
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # mismatch_history is incremental: runs must apply in order
    tags=["shipshape", "reconcile", "dbt"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def shipshape_reconcile():
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=wiring.project_config(),
        profile_config=wiring.profile_config(),
        execution_config=wiring.execution_config(),
        render_config=wiring.render_config(),
        operator_args={
            "vars": {"as_of": AS_OF},
            "install_deps": False,
            "retries": 2,
        },
        default_args={"retries": 2},
    )
    # Placeholders for issue 5: the Great Expectations gate on the marts, then the corrections push.
    quality_gate = EmptyOperator(task_id="quality_gate")
    push_corrections = EmptyOperator(task_id="push_corrections")
    dbt >> quality_gate >> push_corrections


shipshape_reconcile()
