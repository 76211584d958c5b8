"""shipshape_reconcile: its shape (Asset schedule, Cosmos's watcher mode: one `dbt build` in a producer task
and a sensor task per dbt model and multi-parent test, gate and push, retries),
and end-to-end runs by Airflow's `dag.test()` after shipshape_ingest against the sandbox and a real
Postgres, for two seeds of 5000 orders: both DAGs succeed, the marts are judged as of the run's data
interval end, and for every order and every code the flags equal the sandbox truth exactly (payment and
inventory grains likewise; `shipshape_sandbox.compare`, precision and recall printed per code)."""

from __future__ import annotations

import json

import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape_sandbox.compare import compare
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox


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

    # watcher mode: one producer runs the one `dbt build`; every seed and model keeps a task (a sensor of
    # its node), a model with tests a `test` sensor beside it, a test with several parents its own task
    manifest = json.loads(dbt.manifest_path().read_text())
    nodes = manifest["nodes"]
    by_id = {t.task_id: t for t in reconcile.tasks}
    producer = by_id["dbt.dbt_producer_watcher"]
    assert type(producer).__name__ == "DbtProducerWatcherOperator"
    sensors = [t for t in reconcile.tasks
               if t.task_id.startswith("dbt.") and hasattr(t, "producer_task_id") and t is not producer]
    run_sensors = {t.model_unique_id: t for t in sensors if not t.is_test_sensor}
    test_sensors = {t.model_unique_id: t for t in sensors if t.is_test_sensor}
    for uid, node in nodes.items():
        if node["resource_type"] in ("model", "seed"):
            assert uid in run_sensors, f"no task for {node['name']}"
    for name in ("correction_plan", "mismatch_history", "mismatch_daily", "fct_order_reconciliation"):
        assert f"dbt.{name}.run" in by_id and f"dbt.{name}.test" in by_id, name
    multi_parent = [uid for uid, n in nodes.items()
                    if n["resource_type"] == "test" and len(n["depends_on"]["nodes"]) > 1]
    assert multi_parent and all(uid in test_sensors for uid in multi_parent), "a task per multi-parent test"
    for uid in multi_parent:  # the producer publishes each one's own result (wire_watcher)
        assert producer.tests_per_model[uid] == [uid]
        parents = {run_sensors[p].task_id for p in nodes[uid]["depends_on"]["nodes"]}
        assert parents <= test_sensors[uid].get_flat_relative_ids(upstream=True)
    # the producer runs before every sensor, which starts once it succeeded or was skipped by its retry
    for task in sensors:
        assert producer.task_id in task.get_flat_relative_ids(upstream=True), task.task_id
        if producer.task_id in task.upstream_task_ids:
            assert task.trigger_rule == "none_failed", task.task_id
        else:
            assert task.trigger_rule == "all_success", task.task_id
    dbt_tasks = [t for t in reconcile.tasks if t.task_id.startswith("dbt.") and hasattr(t, "dbt_cmd_flags")]
    # scheduled runs skip unit tests: the build and a test sensor's own `dbt test` (`dbt run`/`dbt seed` of a
    # retried model or seed sensor never run them, and refuse the flag)
    for task in [producer, *test_sensors.values()]:
        assert task.dbt_cmd_flags == list(dbt.PIPELINE_FLAGS), task.task_id
    assert not any(t.dbt_cmd_flags for t in run_sensors.values())
    assert not any(t.emit_datasets for t in dbt_tasks), "no Asset per model (nothing is scheduled on them)"
    assert producer.invocation_mode.value == "dbt_runner", "dbt in-process"
    from cosmos.operators._watcher import base as watcher_base

    from shipshape.reconcile import cosmos as wiring
    assert watcher_base._process_dbt_log_event is wiring._process_dbt_log_event, "running events not pushed"
    assert producer.profile_config.profile_mapping.profile_args["threads"] >= 2, "the one build uses dbt's threads"
    gate, raw_gate = reconcile.get_task("quality_gate"), reconcile.get_task("raw_quality_gate")
    push = reconcile.get_task("push_corrections")
    assert push.upstream_task_ids == {"as_of", "quality_gate", "raw_quality_gate"}, "both gates guard the push"
    assert {"dbt.correction_plan.test", "dbt.dbt_producer_watcher_done"} <= gate.upstream_task_ids, \
        "the marts gate runs after dbt"
    assert {t.task_id for t in sensors} | {producer.task_id} <= gate.get_flat_relative_ids(upstream=True), \
        "the marts gate runs after every dbt task"
    assert gate.trigger_rule == "all_success" and push.trigger_rule == "all_success"
    assert push.downstream_task_ids == {"alerts"}, "the push is the last step; only the alerts follow it"
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


def _changed_tables(url: str) -> dict[str, int]:
    """Rows written so far (inserted + updated + deleted) per table of the dbt schemas."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        return dict(conn.execute(
            "select schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del from pg_stat_user_tables"
            " where schemaname in ('staging', 'intermediate', 'marts')").fetchall())


@pytest.mark.integration
def test_a_failed_model_fails_its_own_task_and_a_clear_reruns_only_that_model(fresh_database, airflow_db,
                                                                               monkeypatch):
    """Watcher mode's failure path, under dag.test(): a Shopify inventory item whose legacyResourceId is not
    a number (written to raw by hand; ingest does not check that field) makes the two models that cast it,
    `stg_shopify__inventory_items` and `stg_shopify__inventory_levels`, fail inside the producer's one `dbt
    build`. Their own tasks fail (after their retries, each a `dbt run` of that model alone), the tasks of
    the models and tests after them are upstream_failed, every other model's task succeeds, and neither the
    marts gate nor the push runs. Then the bad record is deleted and one of the two tasks is cleared and run
    again, as the UI's "Clear" does: it rebuilds that model alone (no other dbt table is written, the other
    failed model stays as it was) and the producer does not run again."""
    from datetime import timedelta

    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    warehouse.bootstrap(fresh_database)
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE", fresh_database)
    world = build_world(300, seed=3)
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    failing, also_failing = "dbt.stg_shopify__inventory_items.run", "dbt.stg_shopify__inventory_levels.run"
    with running(sandbox) as base:
        for name, value in connection_env(base, sandbox.credentials.as_json()).items():
            monkeypatch.setenv(name, value)
        bag = dagbag()
        assert str(bag.dags["shipshape_ingest"].test(logical_date=world.clock).state) == "success"
        with psycopg.connect(fresh_database) as conn:
            inserted = conn.execute(
                "insert into raw.shopify__inventory_items"
                " select 'gid://shopify/InventoryItem/broken', r.source_updated_at, r.payload || p.patch,"
                "        md5((r.payload || p.patch)::text), r.extracted_at, r.run_id"
                " from (select * from raw.shopify__inventory_items limit 1) as r,"
                "      (select jsonb_build_object('legacyResourceId', 'not-a-number',"
                "                                 'id', 'gid://shopify/InventoryItem/broken') as patch) as p").rowcount
        assert inserted == 1
        reconcile = bag.dags["shipshape_reconcile"]
        for task in reconcile.tasks:  # the DAG's retries, without their minutes of waiting
            task.retry_delay, task.retry_exponential_backoff = timedelta(seconds=1), 0
        run = reconcile.test(logical_date=world.clock, run_conf={"apply": "dry_run"})
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        states = {task_id: str(ti.state) for task_id, ti in tis.items()}
        writes = {op for op in sandbox.stats.mutations_received if op != "shopify:bulkOperationRunQuery"}

        assert str(run.state) == "failed"
        for task_id in (failing, also_failing):
            assert states[task_id] == "failed", states
            assert tis[task_id].try_number == 3, "each retry ran the model again, alone, and it failed again"
        after = (reconcile.get_task(failing).get_flat_relative_ids(upstream=False)
                 | reconcile.get_task(also_failing).get_flat_relative_ids(upstream=False))
        assert {"quality_gate", "push_corrections", "alerts"} <= after
        # the teardown that tells a person runs whatever failed; everything else after the models waits
        assert states["alerts"] == "success", states["alerts"]
        after.discard("alerts")
        assert all(states[t] == "upstream_failed" for t in after), {t: states[t] for t in after}
        assert states["dbt.dbt_producer_watcher"] == "skipped", "its retry restores the results, never re-runs dbt"
        others = {t: s for t, s in states.items()
                  if t.startswith("dbt.") and t not in after and t not in (failing, also_failing, "dbt.dbt_producer_watcher")}
        assert len(others) > 80 and set(others.values()) == {"success"}, \
            {t: s for t, s in others.items() if s != "success"}
        assert states["raw_quality_gate"] == "success" and not writes

        # the fix, then a clear of that one task
        with psycopg.connect(fresh_database) as conn:
            conn.execute("delete from raw.shopify__inventory_items where source_id = 'gid://shopify/InventoryItem/broken'")
        with psycopg.connect(fresh_database) as conn:
            assert conn.execute("select to_regclass('staging.stg_shopify__inventory_items')").fetchone()[0] is None
        before = _changed_tables(fresh_database)
        with create_session() as session:
            ti = run.get_task_instance(failing, session=session)
            producer_try = run.get_task_instance("dbt.dbt_producer_watcher", session=session).try_number
            clear_task_instances([ti], session, dag_run_state=False)
            session.flush()
            ti.try_number += 1  # what the scheduler (and dag.test's loop) does to a cleared task
            ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            session.refresh(ti)
        _run_task(ti=ti, task=reconcile.get_task(failing))
        with create_session() as session:
            assert str(run.get_task_instance(failing, session=session).state) == "success"
            assert str(run.get_task_instance(also_failing, session=session).state) == "failed", "not cleared"
            producer = run.get_task_instance("dbt.dbt_producer_watcher", session=session)
            assert (producer.try_number, str(producer.state)) == (producer_try, "skipped"), "the producer did not run"
    written = _changed_tables(fresh_database)
    changed = {t for t, n in written.items() if n != before.get(t, 0)}
    assert "staging.stg_shopify__inventory_items" in changed
    bookkeeping = {t for t in changed if t.split(".")[1].startswith("dbt_")}  # the models' marks (on-run-start)
    assert changed - bookkeeping == {"staging.stg_shopify__inventory_items"}, changed
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select count(*) from staging.stg_shopify__inventory_items").fetchone()[0] > 0
