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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from shipshape import warehouse
from shipshape_sandbox import demo
from shipshape_sandbox.benchmarks import drop_database


def with_database(url: str, name: str) -> str:
    """``url`` on the same server, naming the database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_database(server: str, name: str, template: str | None = None) -> str:
    """A new database ``name`` on ``server`` (a clone of ``template`` when given), replacing any of that
    name; returns its URL."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        if template:  # a template must have no sessions (dbt in-process may keep one)
            conn.execute("select pg_terminate_backend(pid) from pg_stat_activity"
                         " where datname = %s and pid <> pg_backend_pid()", (template,))
            conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                         sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server, name)


@dataclass
class TimedRun:
    """One DAG run under ``dag.test()``: its wall time, state, each task's state, and the task time summed
    by kind (the producer's dbt build, the other dbt tasks, each other task)."""

    seconds: float
    state: str
    tasks: dict[str, str]
    task_seconds: dict[str, float]

    def top(self, n: int = 5) -> str:
        return "; ".join(f"{k} {v:.1f} s" for k, v in sorted(self.task_seconds.items(), key=lambda kv: -kv[1])[:n])


def timed_run(dag_id: str, logical_date) -> TimedRun:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    started = time.monotonic()
    run = bag.dags[dag_id].test(logical_date=logical_date)
    elapsed = time.monotonic() - started
    tis = run.get_task_instances()
    task_seconds: dict[str, float] = {}
    for ti in tis:
        if ti.start_date and ti.end_date:
            kind = ("producer" if ti.task_id.endswith("dbt_producer_watcher") else
                    "other dbt tasks" if ti.task_id.startswith("dbt.") else ti.task_id)
            task_seconds[kind] = task_seconds.get(kind, 0.0) + (ti.end_date - ti.start_date).total_seconds()
    return TimedRun(elapsed, str(run.state), {ti.task_id: str(ti.state) for ti in tis}, task_seconds)


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
    url = create_database(args.server, template)
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
            ingest = timed_run("shipshape_ingest", world.clock)
            print(f"round 1 ingest: {ingest.seconds:.1f} s, {ingest.state}", flush=True)
            full = timed_run("shipshape_reconcile", world.clock)
            bad = {k: v for k, v in full.tasks.items() if v != "success"}
            print(f"round 1 reconcile (full build): {full.seconds:.1f} s, {full.state} {bad or ''}", flush=True)
            if full.state != "success":
                return 1
            sandbox.advance(1)
            ingest = timed_run("shipshape_ingest", world.clock)
            print(f"round 2 ingest: {ingest.seconds:.1f} s, {ingest.state}", flush=True)
            reference = None
            results: list[tuple[int, float]] = []
            for threads in [int(x) for x in args.threads.split(",")]:
                for _ in range(args.repeat):
                    name = f"shipshape_bench_dag_{tag}_{len(clones)}"
                    clone = create_database(args.server, name, template=template)
                    clones.append(name)
                    os.environ[warehouse.CONN_ENV] = clone
                    os.environ["SHIPSHAPE_DBT_THREADS"] = str(threads)
                    run = timed_run("shipshape_reconcile", world.clock)
                    t, state, states = run.seconds, run.state, run.tasks
                    bad = {k: v for k, v in states.items() if v != "success"}
                    counts = demo.mismatch_counts(clone)
                    reference = reference or counts
                    same = "marts as the first run" if counts == reference else f"MARTS DIFFER: {counts}"
                    print(f"round 2 reconcile, threads {threads}: {t:.1f} s, {state}, {len(states)} tasks, "
                          f"{counts['orders_with_a_mismatch']} orders with a mismatch, "
                          f"{counts['planned_actions']} planned actions; {same} {bad or ''}", flush=True)
                    print(f"  task time (summed): {run.top()}", flush=True)
                    results.append((threads, t))
                    drop_database(with_database(args.server, name))
                    if state != "success" or bad:
                        return 1
            if args.cli:  # the same round with `dbt build` from the command line, for the DAG's overhead
                for threads in [int(x) for x in args.threads.split(",")]:
                    name = f"shipshape_bench_dag_{tag}_{len(clones)}"
                    clone = create_database(args.server, name, template=template)
                    clones.append(name)
                    started = time.monotonic()
                    result = dbt_build(url=clone, as_of=world.clock, threads=threads, echo=False,
                                       vars=None, args=list(dbt_flags))
                    t = time.monotonic() - started
                    print(f"round 2 `dbt build` from the command line, threads {threads}: {t:.1f} s, "
                          f"{'success' if result.success else 'FAILED'}, {len(result.results)} nodes", flush=True)
                    drop_database(with_database(args.server, name))
        print("summary (threads: seconds): " + ", ".join(f"{n}: {t:.1f}" for n, t in results))
        return 0
    finally:
        for name in [*clones, template]:
            drop_database(with_database(args.server, name))


if __name__ == "__main__":
    sys.exit(main())
