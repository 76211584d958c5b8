"""shipshape's DAGs in a real Airflow deployment (`shipshape.airflow_runtime`): api-server,
dag-processor, scheduler and triggerer as separate processes, LocalExecutor, a Postgres metadata
database, against the sandbox and a fresh warehouse. shipshape_ingest is triggered for the hour that
ends at the sandbox's clock; shipshape_reconcile must start by itself on the Assets that run updated;
both succeed with every task, the marts equal the sandbox truth as of that hour, and nothing is left
running afterwards.

The sandbox's clock is the last full hour of real time, so the triggered ingest run takes the slot the
scheduler would have filled itself (same logical date and interval), and no other ingest run is made.
`SHIPSHAPE_SCHEDULER_TEST_PARALLELISM` sets the executor's parallelism (default: one per core,
2 to 8)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from shipshape import warehouse
from shipshape.airflow_runtime import AirflowDeployment, DagRunResult, default_parallelism
from shipshape.ingest.catalog import all_streams
from shipshape_sandbox.compare import compare
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox

ORDERS = 300
SEED = 14
PARALLELISM = int(os.environ.get("SHIPSHAPE_SCHEDULER_TEST_PARALLELISM") or default_parallelism())
INGEST_TIMEOUT = 300
RECONCILE_TIMEOUT = 900  # ~50 Cosmos tasks; a failing dbt task retries twice, with backoff, before failing


def _progress(run: DagRunResult) -> None:
    print(f"  [{datetime.now(UTC):%H:%M:%S}] {run.summary()}", flush=True)


def _diagnose(deployment: AirflowDeployment, runs: list[DagRunResult]) -> None:
    """Print the processes' log tails and the failed tasks' logs (of the runs so far, else of all runs)."""
    try:
        if not runs:
            runs = deployment.runs("shipshape_ingest") + deployment.runs("shipshape_reconcile")
    except Exception as exc:  # the metadata database may not even be migrated
        print(f"(cannot read the DAG runs: {exc})")
    print("\n" + deployment.diagnostics(runs), flush=True)


@pytest.mark.integration
@pytest.mark.usefixtures("one_airflow_at_a_time")
def test_the_scheduler_runs_ingest_then_reconcile_on_its_assets(
        fresh_database, airflow_metadata_database, tmp_path):
    started = time.monotonic()
    warehouse.bootstrap(fresh_database)
    now = datetime.now(UTC)
    to_next_hour = 3600 - (now.minute * 60 + now.second)
    # From here until ingest is paused (about 40 s here) must not straddle the hour: the scheduler would
    # fill the next hourly slot with a run of its own
    if to_next_hour < 180:
        time.sleep(to_next_hour + 1)
        now = datetime.now(UTC)
    clock = now.replace(minute=0, second=0, microsecond=0)  # the last full hour: the scheduler's next slot
    world = build_world(ORDERS, seed=SEED, start=clock)
    assert world.clock == clock
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    home = tmp_path / "airflow"
    timings: dict[str, float] = {}
    runs: list[DagRunResult] = []

    with running(sandbox) as base:
        env = {
            **connection_env(base, sandbox.credentials.as_json()),
            warehouse.CONN_ENV: fresh_database,
            # a dry run: applying would correct the sandbox's world before the marts are compared with it
            "SHIPSHAPE_APPLY_CORRECTIONS": "false",
        }
        deployment = AirflowDeployment(home, airflow_metadata_database, env=env, parallelism=PARALLELISM)
        try:
            timings["db migrate"] = deployment.migrate()
            mark = time.monotonic()
            deployment.start(["api-server", "dag-processor"])
            deployment.wait_until_parsed(["shipshape_ingest", "shipshape_reconcile"])
            timings["api-server up, DAGs parsed"] = time.monotonic() - mark
            assert deployment.parsed_dags() == {"shipshape_ingest": False, "shipshape_reconcile": False}, \
                "DAGs are unpaused at creation"

            # Triggered before the scheduler starts, with the logical date and interval of the hourly slot
            # ending at the sandbox's clock: the scheduler then finds that slot taken and creates no run.
            slot = (clock - timedelta(hours=1), clock)
            ingest_id = deployment.trigger("shipshape_ingest", logical_date=slot[0], data_interval=slot)
            deployment.start(["scheduler", "triggerer"])
            print(f"\nAirflow home {home}; parallelism {PARALLELISM}; sandbox clock {clock.isoformat()}; "
                  f"triggered {ingest_id}", flush=True)

            ingest = deployment.wait_for_run("shipshape_ingest", run_id=ingest_id, timeout=INGEST_TIMEOUT,
                                             progress=_progress)
            runs.append(ingest)
            # no further hourly slot may start while this test runs (it might cross the hour)
            deployment.pause("shipshape_ingest")
            assert ingest.state == "success" and not ingest.unsuccessful(), ingest.unsuccessful()
            assert (ingest.data_interval_start, ingest.data_interval_end) == slot
            assert len(ingest.tasks) == len(all_streams())

            reconcile = deployment.wait_for_run("shipshape_reconcile", run_type="asset_triggered",
                                                timeout=RECONCILE_TIMEOUT, progress=_progress)
            runs.append(reconcile)
            events = deployment.triggering_events("shipshape_reconcile", reconcile.run_id)
            assert {e["source_run_id"] for e in events} == {ingest_id}, events
            assert {e["source_task_id"] for e in events} == set(ingest.tasks), "every raw table's Asset"
            assert reconcile.state == "success" and not reconcile.unsuccessful(), reconcile.unsuccessful()
            assert len(reconcile.tasks) > 40, "a task per dbt model, the gates and the push"
            assert [r.run_id for r in deployment.runs("shipshape_ingest")] == [ingest_id], \
                "no other ingest run (one more means the hour turned before ingest was paused)"
            assert len(deployment.runs("shipshape_reconcile")) == 1
            # the sensors of dbt's nodes ended in the triggerer (NodeResultTrigger): no worker ran them
            on_workers = deployment.worker_hosts("shipshape_reconcile", reconcile.run_id)
            sensors = {t for t in reconcile.tasks if t.startswith("dbt.") and t != "dbt.dbt_producer_watcher"
                       and t != "dbt.dbt_producer_watcher_done"}
            assert len(sensors) > 100 and not sensors & on_workers.keys(), sorted(sensors & on_workers.keys())
            assert {"as_of", "dbt.dbt_producer_watcher", "raw_quality_gate", "quality_gate",
                    "push_corrections"} <= on_workers.keys(), on_workers
            timings["ingest run"] = ingest.wall_time
            timings["ingest end -> reconcile start"] = (reconcile.start_date - ingest.end_date).total_seconds()
            timings[f"reconcile run (parallelism {PARALLELISM})"] = reconcile.wall_time
        except BaseException:
            _diagnose(deployment, runs)
            raise
        finally:
            mark = time.monotonic()
            killed = deployment.stop()
            timings["stop"] = time.monotonic() - mark
            leftovers = deployment.leftover_processes()
            print(f"stopped the deployment in {timings['stop']:.1f} s; had to SIGKILL: {killed or 'nothing'}; "
                  f"left running: {leftovers or 'nothing'}")
    assert not leftovers, f"processes of {home} still running: {leftovers}"

    assert not sandbox.stats.mutations_applied.keys() - {"shopify:bulkOperationRunQuery"}, "a dry run writes nothing"
    comparison = compare(world, fresh_database)
    print(f"\n{ORDERS} orders (seed {SEED}), through the scheduler: {comparison.report()}")
    timings["whole test"] = time.monotonic() - started
    print("timings: " + "; ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    problems = comparison.problems(clock)
    assert not problems, "\n".join(problems)
