"""One `shipshape_reconcile` DAG run under Airflow's `dag.test()`, timed: the demo's second round.

    python -m shipshape_sandbox.benchmarks.reconcile_dag [--orders 2000] [--seed 7] [--threads 2,4,8] [--repeat 1]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]

What `shipshape demo` does, on a database of its own on ``--server``: the sandbox world (rate limits
off), `shipshape_ingest` then `shipshape_reconcile` at the world clock (round 1, timed: a full build), the
clock moves on an hour, `shipshape_ingest` again. That state (an hour of changes over the orders) is kept
as a template database; each measured run clones it and times `shipshape_reconcile` at the new clock
(round 2: incremental models, the gates, the push), once per ``--threads`` value and ``--repeat``. Every
run must succeed with every task successful, and the marts must equal those of the first measured run
(mismatch counts and plan size).

The DAGs come from the `dags/` folder of the checkout this package is imported from, so the same script
measures whichever code is on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from shipshape import warehouse
from shipshape_sandbox import demo


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _create(server: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        if template:  # a template must have no sessions (dbt in-process may keep one)
            conn.execute("select pg_terminate_backend(pid) from pg_stat_activity"
                         " where datname = %s and pid <> pg_backend_pid()", (template,))
            conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                         sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _with_db(server, name)


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


LAST_BREAKDOWN: dict[str, float] = {}


def _timed_run(dag_id: str, logical_date) -> tuple[float, str, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    started = time.monotonic()
    run = bag.dags[dag_id].test(logical_date=logical_date)
    elapsed = time.monotonic() - started
    tis = run.get_task_instances()
    states = {ti.task_id: str(ti.state) for ti in tis}
    # where the time went: the dbt task(s) that run dbt, the gates and push, and every other dbt task
    LAST_BREAKDOWN.clear()
    for ti in tis:
        if ti.start_date and ti.end_date:
            kind = ("producer" if ti.task_id.endswith("dbt_producer_watcher") else
                    "other dbt tasks" if ti.task_id.startswith("dbt.") else ti.task_id)
            LAST_BREAKDOWN[kind] = LAST_BREAKDOWN.get(kind, 0.0) + (ti.end_date - ti.start_date).total_seconds()
    return elapsed, str(run.state), states


def _breakdown() -> str:
    return "; ".join(f"{k} {v:.1f} s" for k, v in sorted(LAST_BREAKDOWN.items(), key=lambda kv: -kv[1])[:5])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", default="4", help="comma-separated dbt thread counts to measure")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cli", action="store_true", help="also time `dbt build` of round 2 from the command line")
    parser.add_argument("--port", type=int, default=8797, help="sandbox port")
    parser.add_argument("--server", default=os.environ.get("SHIPSHAPE_TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)

    from shipshape.dbt import PIPELINE_FLAGS as dbt_flags
    from shipshape.dbt import run as _dbt_run

    def dbt_build(*, args, **kwargs):
        return _dbt_run(["build", *args], **kwargs)
    from shipshape_sandbox.connections import connection_env
    from shipshape_sandbox.generate import build_world
    from shipshape_sandbox.runner import running
    from shipshape_sandbox.server import Sandbox

    tag = uuid.uuid4().hex[:8]
    template = f"shipshape_bench_dag_{tag}"
    url = _create(args.server, template)
    warehouse.bootstrap(url)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"code: {warehouse.project_root()}", flush=True)
    world = build_world(args.orders, seed=args.seed)
    sandbox = Sandbox(world, faults="none", rate_limits="off", base_url=f"http://127.0.0.1:{args.port}")
    home = Path(tempfile.mkdtemp(prefix="shipshape-bench-airflow-"))
    clones: list[str] = []
    try:
        with running(sandbox, port=args.port) as base:
            demo.configure_airflow(home, warehouse.project_root() / "dags",
                                   {**connection_env(base, sandbox.credentials.as_json()), warehouse.CONN_ENV: url})
            t, state, _ = _timed_run("shipshape_ingest", world.clock)
            print(f"round 1 ingest: {t:.1f} s, {state}", flush=True)
            t, state, states = _timed_run("shipshape_reconcile", world.clock)
            bad = {k: v for k, v in states.items() if v != "success"}
            print(f"round 1 reconcile (full build): {t:.1f} s, {state} {bad or ''}", flush=True)
            if state != "success":
                return 1
            sandbox.advance(1)
            t, state, _ = _timed_run("shipshape_ingest", world.clock)
            print(f"round 2 ingest: {t:.1f} s, {state}", flush=True)
            reference = None
            results: list[tuple[int, float]] = []
            for threads in [int(x) for x in args.threads.split(",")]:
                for _ in range(args.repeat):
                    name = f"shipshape_bench_dag_{tag}_{len(clones)}"
                    clone = _create(args.server, name, template=template)
                    clones.append(name)
                    os.environ[warehouse.CONN_ENV] = clone
                    os.environ["SHIPSHAPE_DBT_THREADS"] = str(threads)
                    t, state, states = _timed_run("shipshape_reconcile", world.clock)
                    bad = {k: v for k, v in states.items() if v != "success"}
                    counts = demo.mismatch_counts(clone)
                    reference = reference or counts
                    same = "marts as the first run" if counts == reference else f"MARTS DIFFER: {counts}"
                    print(f"round 2 reconcile, threads {threads}: {t:.1f} s, {state}, {len(states)} tasks, "
                          f"{counts['orders_with_a_mismatch']} orders with a mismatch, "
                          f"{counts['planned_actions']} planned actions; {same} {bad or ''}", flush=True)
                    print(f"  task time (summed): {_breakdown()}", flush=True)
                    results.append((threads, t))
                    _drop(args.server, name)
                    if state != "success" or bad:
                        return 1
            if args.cli:  # the same round with `dbt build` from the command line, for the DAG's overhead
                for threads in [int(x) for x in args.threads.split(",")]:
                    name = f"shipshape_bench_dag_{tag}_{len(clones)}"
                    clone = _create(args.server, name, template=template)
                    clones.append(name)
                    started = time.monotonic()
                    result = dbt_build(url=clone, as_of=world.clock, threads=threads, echo=False,
                                       vars=None, args=list(dbt_flags))
                    t = time.monotonic() - started
                    print(f"round 2 `dbt build` from the command line, threads {threads}: {t:.1f} s, "
                          f"{'success' if result.success else 'FAILED'}, {len(result.results)} nodes", flush=True)
                    _drop(args.server, name)
        print("summary (threads: seconds): " + ", ".join(f"{n}: {t:.1f}" for n, t in results))
        return 0
    finally:
        for name in [*clones, template]:
            _drop(args.server, name)


if __name__ == "__main__":
    sys.exit(main())
