"""DAG integrity: every DAG file imports without errors, has no cycles, is tagged, retries its tasks,
follows Airflow 3 idioms (ruff AIR3), and shipshape_ingest covers every source stream on an interval
timetable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shipshape import dbt

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_files_import_cleanly(dagbag):
    assert dagbag.import_errors == {}
    assert "shipshape_ingest" in dagbag.dags


def test_every_dag_is_tagged_and_every_task_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert "shipshape" in dag.tags, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_no_cycles(dagbag):
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises on a cycle


def test_ingest_has_a_task_and_asset_per_stream_on_an_interval_timetable(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    from shipshape.ingest.catalog import all_streams, raw_asset_uri

    dag = dagbag.dags["shipshape_ingest"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) or "DataInterval" in type(dag.timetable).__name__
    streams = all_streams()
    assert streams, "no source streams found under shipshape.sources"
    by_id = {t.task_id: t for t in dag.tasks}
    for key in streams:
        task = by_id[f"extract_{key.replace('.', '__')}"]
        assert [o.uri for o in task.outlets] == [raw_asset_uri(key)]


def test_dags_follow_airflow_3_idioms():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "AIR3", str(DAGS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_every_reconcile_task_reads_the_one_as_of_resolved_by_its_first_task(dagbag):
    """dbt (its environment), both gates and the push read the `as_of` task's XCom; nothing reads the data interval,
    which an Asset-triggered run does not have (its dbt tasks all failed rendering it)."""
    dag = dagbag.dags["shipshape_reconcile"]
    first = dag.get_task("as_of")
    assert not first.upstream_task_ids
    # every task that runs dbt (the watcher producer's one build; each sensor when it is retried or cleared)
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt.") and hasattr(t, "env")]
    assert "dbt.dbt_producer_watcher" in {t.task_id for t in dbt_tasks} and len(dbt_tasks) > 100
    assert all(t.env == {dbt.AS_OF_ENV: "{{ ti.xcom_pull(task_ids='as_of') }}"} and not t.vars for t in dbt_tasks)
    for task in dag.tasks:
        if task.task_id.startswith("dbt."):
            assert "as_of" in task.get_flat_relative_ids(upstream=True), f"{task.task_id} may start before the as-of"
    for task_id in ("raw_quality_gate", "quality_gate", "push_corrections"):
        assert "as_of" in dag.get_task(task_id).upstream_task_ids, task_id


def test_every_sensor_starts_in_the_triggerer_and_resumes_in_cosmos(dagbag):
    """The sensors of dbt's nodes start from NodeResultTrigger (no worker when their node succeeded); a
    non-success resumes in Cosmos's own `execute_complete`. The producer, the gates and the push do not."""
    from shipshape.reconcile import node_trigger

    dag = dagbag.dags["shipshape_reconcile"]
    sensors = [t for t in dag.tasks if hasattr(t, "producer_task_id") and t.task_id != "dbt.dbt_producer_watcher"]
    assert len(sensors) > 100
    for task in sensors:
        assert task.start_from_trigger, task.task_id
        args = task.start_trigger_args
        assert args.trigger_cls == node_trigger.CLASSPATH and callable(getattr(task, args.next_method))
        assert args.trigger_kwargs["model_unique_id"] == task.model_unique_id
        assert args.trigger_kwargs["producer_task_id"] == "dbt.dbt_producer_watcher"
    others = [t for t in dag.tasks if t not in sensors]
    assert not any(getattr(t, "start_from_trigger", False) for t in others)


def test_alerts_follow_every_reconcile_task_without_deciding_the_runs_state(dagbag):
    """`alerts` runs once everything else is done, whatever happened (a failed gate is news too), and is a
    teardown, so the run's state stays its gates' and push's; `as_of` and the gates link to the console
    and the Data Docs."""
    dag = dagbag.dags["shipshape_reconcile"]
    alerts = dag.get_task("alerts")
    assert alerts.is_teardown and not alerts.on_failure_fail_dagrun and alerts.trigger_rule == "all_done_setup_success"
    assert alerts.get_flat_relative_ids(upstream=True) == {t.task_id for t in dag.tasks} - {"alerts"}
    assert {"as_of", "raw_quality_gate", "quality_gate", "push_corrections"} <= alerts.upstream_task_ids
    for task_id in ("as_of", "raw_quality_gate", "quality_gate"):
        assert {link.name for link in dag.get_task(task_id).operator_extra_links} == {"Console at as-of", "Data Docs"}, task_id


def test_the_ingest_schedule_is_a_setting():
    from shipshape.ingest.schedule import DEFAULT_SCHEDULE, ingest_schedule

    assert ingest_schedule({}) == DEFAULT_SCHEDULE == "0 * * * *"
    assert ingest_schedule({"SHIPSHAPE_INGEST_SCHEDULE": "* * * * *"}) == "* * * * *"
    with pytest.raises(ValueError, match="SHIPSHAPE_INGEST_SCHEDULE='hourly'"):
        ingest_schedule({"SHIPSHAPE_INGEST_SCHEDULE": "hourly"})
