"""The reconcile DAG against plain `dbt build` at scale: what Airflow and Cosmos add over dbt itself.

    python -m shipshape_sandbox.benchmarks.reconcile_dag_scale [--orders 100000] [--seed 7] [--advance-hours 2]
        [--threads 4] [--server postgresql://postgres@127.0.0.1:5432/postgres]

1. The world's raw tables come from ``dump_raw`` (kept as a template database between runs, see
   :func:`shipshape_sandbox.benchmarks.raw_database`).
2. **Full**: on one clone of the dump, ``dbt build`` from the command line (what ``shipshape dbt build``
   runs: a subprocess, the pipeline's flags, ``--threads``), timed; on another clone, one
   ``shipshape_reconcile`` run under ``dag.test()`` at the world clock (watcher mode: the producer's one
   ``dbt build``, a sensor per model and test, both quality gates, a dry-run push, the alerts), timed.
3. **Incremental**: the world moves on ``--advance-hours`` (about 1 % of the orders at 100 000 orders), the
   new versions are extracted into the DAG's database (its outbox holds the first plan, as a deployment's
   would) the way the hourly ingest does, and that state is kept as a template: one clone gets ``dbt build`` from the command line, another a
   ``shipshape_reconcile`` run, both at the new clock over the same rows, timed.

Both runs of each pair must succeed and give the same marts (mismatch counts and plan size). The ratio DAG
/ command line is printed for each pair, with where the DAG's time went (the producer's build, the
sensors, the gates). Nothing is sent anywhere: with no source connection configured the push is a dry run.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from shipshape import warehouse
from shipshape_sandbox import demo
from shipshape_sandbox.benchmarks import drop_database, dumped_port, raw_database
from shipshape_sandbox.benchmarks.reconcile_dag import TimedRun, create_database, timed_run, with_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--advance-hours", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=4, help="dbt threads, the same for both")
    parser.add_argument("--server", default=os.environ.get("SHIPSHAPE_TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from shipshape.dbt import PIPELINE_FLAGS
    from shipshape.dbt import run as dbt_run
    from shipshape_sandbox import lifecycle
    from shipshape_sandbox.dump import dump_raw
    from shipshape_sandbox.generate import build_world

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
          f" orders {args.orders}, seed {args.seed}, dbt threads {args.threads}", flush=True)
    started = time.monotonic()
    world = build_world(args.orders, seed=args.seed)
    raw_url, reused = raw_database(args.server, args.orders, args.seed,
                                   lambda target: dump_raw(world, target, run_id="bench-dump-1"),
                                   "shipshape_bench_scale")
    print(f"world and raw tables ({'cloned from the kept dump' if reused else 'dumped'}):"
          f" {time.monotonic() - started:.1f} s", flush=True)
    raw_name = raw_url.rsplit("/", 1)[1]
    tag = uuid.uuid4().hex[:8]
    names: list[str] = [raw_name]
    os.environ["SHIPSHAPE_DBT_THREADS"] = str(args.threads)
    # no source connection: the push is a dry run and the alerts have no channel; only the warehouse
    demo.configure_airflow(Path(tempfile.mkdtemp(prefix="shipshape-bench-airflow-")),
                           warehouse.project_root() / "dags", {warehouse.CONN_ENV: raw_url})

    def cli(url: str) -> float:
        started = time.monotonic()
        result = dbt_run(["build", *PIPELINE_FLAGS], url=url, as_of=world.clock, threads=args.threads, echo=False)
        took = time.monotonic() - started
        if not result.success:
            raise SystemExit(f"dbt build from the command line failed on {warehouse.mask_url(url)}")
        return took

    def dag(url: str) -> TimedRun:
        os.environ[warehouse.CONN_ENV] = url
        run = timed_run("shipshape_reconcile", world.clock)
        bad = {k: v for k, v in run.tasks.items() if v != "success"}
        if run.state != "success" or bad:
            raise SystemExit(f"shipshape_reconcile did not succeed: {run.state} {bad}")
        return run

    def clone(label: str, template: str) -> str:
        name = f"shipshape_bench_scale_{tag}_{label}"
        names.append(name)
        return create_database(args.server, name, template=template)

    def measure(phase: str, template: str) -> tuple[str, bool]:
        """Both runs of one phase on clones of `template`; returns the DAG's database and whether the
        marts agreed."""
        cli_url, dag_url = clone(f"{phase}_cli", template), clone(f"{phase}_dag", template)
        cli_s = cli(cli_url)
        print(f"{phase}: `dbt build` from the command line {cli_s:.1f} s", flush=True)
        run = dag(dag_url)
        producer = run.task_seconds.get("producer", 0.0)
        print(f"{phase}: shipshape_reconcile under dag.test() {run.seconds:.1f} s"
              f" ({run.seconds / cli_s:.2f} x the command line; its producer's build {producer:.1f} s ="
              f" {producer / cli_s:.2f} x); task time summed: {run.top()}", flush=True)
        counts_cli, counts_dag = demo.mismatch_counts(cli_url), demo.mismatch_counts(dag_url)
        same = counts_cli == counts_dag
        print(f"{phase}: marts {'identical' if same else 'DIFFER'}: {counts_dag['orders_with_a_mismatch']}"
              f" orders with a mismatch, {counts_dag['planned_actions']} planned actions"
              + ("" if same else f" (command line: {counts_cli})"), flush=True)
        return dag_url, same

    try:
        full_url, full_same = measure("full", raw_name)
        # the DAG's built database (its outbox holds the first plan, as a deployment's would), with the
        # next hours' raw versions extracted into it the way the hourly ingest does
        applied = lifecycle.advance(world, timedelta(hours=args.advance_hours))
        started = time.monotonic()
        dump_raw(world, full_url, run_id="bench-dump-2", port=dumped_port(full_url))
        print(f"world advanced {args.advance_hours} h ({applied} events); new versions extracted in"
              f" {time.monotonic() - started:.1f} s", flush=True)
        _, incremental_same = measure("incremental", full_url.rsplit("/", 1)[1])
        return 0 if full_same and incremental_same else 1
    finally:
        for name in names:
            drop_database(with_database(args.server, name))


if __name__ == "__main__":
    sys.exit(main())
