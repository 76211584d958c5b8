"""shipshape_reconcile: dbt over the raw tables, the quality gates, then push_corrections.

Scheduled on the Assets `shipshape_ingest` updates (one per raw table): a run starts once every raw
table has been updated since the last run. dbt runs through Cosmos's watcher mode: one task
(`dbt.dbt_producer_watcher`) runs a single `dbt build` with dbt's threads, and every seed and model keeps a
task that succeeds or fails with its node (a retry or clear of one runs dbt for that node alone); the
tasks are rendered from the committed manifest `dbt_project/manifest.json`
(regenerate it with `make manifest` after changing models), so parsing this file never runs dbt. Every
model, gate and the push judge the data at the run's one as-of, resolved by the first task (`as_of`):
for a run the ingest Assets triggered, the end of the newest window every stream it consumed reached;
for a run with a data interval, its end (`shipshape.reconcile.as_of` states the rule). Retries and
clears read the same as-of, so they give the same answer.

Two Great Expectations gates guard the push: `raw_quality_gate` on what ingest landed (beside dbt, so a
bad load still leaves analysts fresh marts, only never acted on) and `quality_gate` on the marts. A
failed expectation fails its gate, naming each failure and its observed value, and `push_corrections`
does not run. The push is a dry run unless applying is switched on: the `apply` param for one run, the
SHIPSHAPE_APPLY_CORRECTIONS setting for a deployment, or every target being the local sandbox. A plan
above the circuit breaker's limit is refused unless `override_circuit_breaker` is set for the run.
After every run, whatever happened, `alerts` sends a short digest when something needs a person (new
high-severity mismatches, corrections that failed or were refused, a failed gate or task), once per run,
through the e-mail and Slack connections that exist (`shipshape.alerts`). It is a teardown task, so a
failed gate still fails the run. The `as_of` task and both gates link to the console at the run's as-of
and to the Data Docs (the shipshape plugin serves them; `shipshape.airflow_ui`).
Logic lives in `shipshape.reconcile`, `shipshape.quality`, `shipshape.corrections` and
`shipshape.alerts`; this file only wires it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup

from shipshape.airflow_ui import run_links
from shipshape.ingest.catalog import all_streams, raw_asset
from shipshape.reconcile import cosmos as wiring
from shipshape.reconcile.params import APPLY_CHOICES, APPLY_LABELS

RAW_ASSETS = [raw_asset(key) for key in all_streams()]

# The run's one as-of (shipshape.reconcile.as_of), resolved by the first task; every other task reads it.
AS_OF = "{{ ti.xcom_pull(task_ids='as_of') }}"


@dag(
    dag_id="shipshape_reconcile",
    schedule=RAW_ASSETS,
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # mismatch_history is incremental: runs must apply in order
    tags=["shipshape", "reconcile", "dbt"],
    default_args={"owner": "shipshape", "retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True},
    params={
        "apply": Param("deployment", type="string", enum=list(APPLY_CHOICES), values_display=APPLY_LABELS,
                       title="Apply corrections?",
                       description="the deployment's rule: SHIPSHAPE_APPLY_CORRECTIONS when set, else apply only when every"
                                   " target is the local sandbox; a dry run records the plan as planned"),
        "override_circuit_breaker": Param(False, type="boolean", title="Override the circuit breaker",
                                          description="apply a plan larger than max(50, 5 %) of the orders"),
    },
    doc_md=__doc__,
)
def shipshape_reconcile():
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=wiring.project_config(AS_OF),
        profile_config=wiring.profile_config(),
        execution_config=wiring.execution_config(),
        render_config=wiring.render_config(),
        operator_args=wiring.operator_args(),
        default_args={"retries": 2},
    )
    wiring.wire_watcher(dbt)

    @task(task_id="as_of", retries=1)
    def resolve_as_of(dag_run=None, data_interval_end=None):
        from shipshape.reconcile.tasks import resolve_as_of

        return resolve_as_of(dag_run, data_interval_end)

    # one retry, for a lost connection: a failed expectation fails the same way again
    @task(retries=1)
    def gate(suite: str, as_of: str, run_id=None):
        from shipshape.reconcile.as_of import parse_moment
        from shipshape.reconcile.tasks import quality_gate

        return quality_gate(suite, as_of=parse_moment(as_of), run_id=run_id)

    @task(retries=1)  # failed actions never fail the task (the outbox retries them on later runs)
    def push_corrections(as_of: str, run_id=None, params=None):
        from shipshape.reconcile.as_of import parse_moment
        from shipshape.reconcile.tasks import push_corrections

        return push_corrections(run_id=run_id, as_of=parse_moment(as_of), apply=params["apply"],
                                override_circuit_breaker=bool(params["override_circuit_breaker"]))

    # A teardown task, not a DAG callback: Airflow 3.3 runs DAG callbacks in the dag-processor, outside
    # any task (no log in the UI, no retry, a failure only in the processor's log). A teardown runs once
    # everything upstream is done, whatever its state, and does not count toward the run's state: a
    # failed gate still fails the run (a plain all_done leaf would turn it green).
    @task(task_id="alerts", retries=2)
    def alerts(**context):
        from shipshape.reconcile.tasks import send_alerts

        return send_alerts(context)

    as_of = resolve_as_of()
    raw_gate = gate.override(task_id="raw_quality_gate")("raw", as_of)
    marts_gate = gate.override(task_id="quality_gate")("marts", as_of)
    for linked in (as_of, raw_gate, marts_gate):  # buttons on the task: console at the as-of, Data Docs
        linked.operator.operator_extra_links = run_links()
    push = push_corrections(as_of)
    as_of >> dbt >> marts_gate
    [raw_gate, marts_gate] >> push
    [as_of, dbt, raw_gate, marts_gate, push] >> alerts().as_teardown()


shipshape_reconcile()
