"""shipshape_reconcile: its shape (Asset schedule, a Cosmos task per dbt model, gate and push, retries),
and end-to-end runs by Airflow's `dag.test()` after shipshape_ingest against the sandbox and a real
Postgres, for two seeds of 5000 orders: both DAGs succeed, the marts are judged as of the run's data
interval end, and for every order and every code the flags equal the sandbox truth exactly (payment and
inventory grains likewise; `shipshape.sandbox.compare`, precision and recall printed per code)."""

from __future__ import annotations

import json

import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape.cli import connection_env
from shipshape.sandbox.compare import compare
from shipshape.sandbox.generate import build_world
from shipshape.sandbox.runner import running
from shipshape.sandbox.server import Sandbox


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(warehouse.project_root() / "dags"))
    assert bag.import_errors == {}
    return bag


def test_reconcile_is_scheduled_on_the_ingest_assets_with_a_task_per_model():
    bag = dagbag()
    ingest, reconcile = bag.dags["shipshape_ingest"], bag.dags["shipshape_reconcile"]
    produced = {o.uri for t in ingest.tasks for o in t.outlets}
    consumed = {a.uri for a in reconcile.timetable.asset_condition.iter_assets().values()} if hasattr(
        reconcile.timetable.asset_condition, "iter_assets") else set()
    if not consumed:  # older SDKs: the condition's objects
        consumed = {a.uri for a in reconcile.timetable.asset_condition.objects}
    assert consumed == produced and produced

    manifest = json.loads(dbt.manifest_path().read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}
    task_ids = {t.task_id for t in reconcile.tasks}
    for name in models:
        assert any(tid.startswith(f"dbt.{name}_") for tid in task_ids), f"no task for {name}"
    for name in ("correction_plan", "mismatch_history", "mismatch_daily", "fct_order_reconciliation"):
        assert f"dbt.{name}_model_build" in task_ids
    dbt_tasks = [t for t in reconcile.tasks if t.task_id.startswith("dbt.")]
    assert all(t.dbt_cmd_flags == list(dbt.PIPELINE_FLAGS) for t in dbt_tasks), "scheduled runs skip unit tests"
    assert not any(t.emit_datasets for t in dbt_tasks), "no Asset per model (nothing is scheduled on them)"
    gate, raw_gate = reconcile.get_task("quality_gate"), reconcile.get_task("raw_quality_gate")
    push = reconcile.get_task("push_corrections")
    assert push.upstream_task_ids == {"as_of", "quality_gate", "raw_quality_gate"}, "both gates guard the push"
    assert "dbt.correction_plan_model_build" in gate.upstream_task_ids, "the marts gate runs after dbt"
    assert not push.downstream_task_ids, "the push is the last task"
    assert set(reconcile.params) >= {"apply", "override_circuit_breaker"}
    assert reconcile.params["apply"] == "deployment", "no run applies unless told to (or against the sandbox)"
    assert reconcile.params.get_param("apply").schema["enum"] == ["deployment", "apply", "dry_run"]
    assert all(t.retries >= 1 for t in reconcile.tasks)
    assert "shipshape" in reconcile.tags and raw_gate.trigger_rule == "all_success"


ORDERS = 5000


@pytest.mark.integration
@pytest.mark.parametrize("seed", (5, 2027))
def test_ingest_then_reconcile_equals_the_truth(seed, fresh_database, airflow_db, monkeypatch):
    warehouse.bootstrap(fresh_database)
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE", fresh_database)
    world = build_world(ORDERS, seed=seed)
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        for name, value in connection_env(base, sandbox.credentials.as_json()).items():
            monkeypatch.setenv(name, value)
        bag = dagbag()
        ingest = bag.dags["shipshape_ingest"].test(logical_date=world.clock)
        assert str(ingest.state) == "success"
        # Asset-scheduled, but dag.test() runs it for a logical date: its data interval ends there. A dry
        # run: applying would correct the sandbox's world before the marts are compared with its truth.
        run = bag.dags["shipshape_reconcile"].test(logical_date=world.clock, run_conf={"apply": "dry_run"})
        failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"]
        assert str(run.state) == "success" and not failed, failed

    with psycopg.connect(fresh_database) as conn:
        history = conn.execute("select count(*), count(*) filter (where first_seen_at = %s)"
                               " from marts.mismatch_history", (world.clock,)).fetchone()
        plan_as_of = conn.execute("select distinct as_of from marts.correction_plan").fetchall()
    assert history[0] == history[1] > 0
    assert plan_as_of in ([], [(world.clock,)])
    assert not sandbox.stats.mutations_applied.keys() - {"shopify:bulkOperationRunQuery"}, "a dry run writes nothing"

    comparison = compare(world, fresh_database)
    print(f"\nseed {seed}, through shipshape_ingest and shipshape_reconcile: {comparison.report()}")
    problems = comparison.problems(world.clock)
    assert not problems, "\n".join(problems)


@pytest.mark.integration
def test_hostile_input_fails_the_gate_and_nothing_is_pushed(fresh_database, airflow_db, monkeypatch):
    """`--faults hostile`: malformed records land in quarantine, the raw gate fails naming the broken
    expectation with its observed value, push_corrections never runs, and the sandbox receives no write."""
    warehouse.bootstrap(fresh_database)
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE", fresh_database)
    world = build_world(300, seed=3)
    sandbox = Sandbox(world, faults="hostile", rate_limits="off")
    with running(sandbox) as base:
        for name, value in connection_env(base, sandbox.credentials.as_json()).items():
            monkeypatch.setenv(name, value)
        bag = dagbag()
        assert str(bag.dags["shipshape_ingest"].test(logical_date=world.clock).state) == "success"
        run = bag.dags["shipshape_reconcile"].test(logical_date=world.clock)
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        writes = {op: n for op, n in sandbox.stats.mutations_received.items()
                  if op != "shopify:bulkOperationRunQuery"}  # a bulk export is a read
    assert str(run.state) == "failed"
    assert states["raw_quality_gate"] == "failed" and states["push_corrections"] == "upstream_failed", states
    assert writes == {}, f"the sandbox received writes: {writes}"
    with psycopg.connect(fresh_database) as conn:
        failed = conn.execute("select expectation, observed_value from ops.quality_results"
                              " where suite = 'raw' and not success").fetchall()
        quarantined = conn.execute("select count(*) from raw._quarantine").fetchone()[0]
        outbox = conn.execute("select to_regclass('ops.correction_log')").fetchone()[0]
        logged = outbox is not None and conn.execute("select count(*) from ops.correction_log").fetchone()[0]
    assert quarantined > 0
    assert [name for name, _ in failed] == [
        "raw._quarantine: no record quarantined by the ingest runs being reconciled"], failed
    assert failed[0][1] == quarantined
    assert not logged, "no correction was even planned"
