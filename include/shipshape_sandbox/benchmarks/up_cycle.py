"""`make up` measured: how long until the UI answers with both DAGs parsed, and how long one scheduled
cycle takes in the real scheduler (an ingest run, then the reconcile run its Assets start).

    python -m shipshape_sandbox.benchmarks.up_cycle [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--orders 2000] [--speed 12] [--cycles 3]

It runs `shipshape.up.Stack` (what `make up` runs) on free ports with its warehouse and metadata in
databases of their own on the server, dropped after. A live sandbox at `--speed 12` does an hour of store
activity every 5 minutes and ingest runs every 5 minutes (the schedule follows the speed), so after the
first cycle (the full first load) each cycle is an hour of the store's changes. A cycle is timed from the
start of an ingest run to the end of the reconcile run its Assets started; a reconcile that had to wait
behind an earlier one (the ingest came faster than reconcile) is reported and not timed. Prints one line
per figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import timedelta

from shipshape_sandbox.benchmarks import drop_database, scratch_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default=os.environ.get("SHIPSHAPE_TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--orders", type=int, default=2000)
    # 12: an hour of store activity every 5 real minutes, and ingest every 5 minutes, so that a cycle
    # (about 5 minutes here) ends before the next begins and each incremental cycle is an hour's changes
    parser.add_argument("--speed", type=float, default=12.0)
    parser.add_argument("--cycles", type=int, default=3, help="cycles to time (the first is the full load)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import tempfile
    import uuid
    from pathlib import Path
    from urllib.parse import urlsplit, urlunsplit

    from shipshape.airflow_runtime import free_port
    from shipshape.up import Stack, UpSettings

    wh = scratch_database(args.server_url, "shipshape_up_bench")
    # Airflow's own: created by the deployment's migrate, not bootstrapped as a warehouse
    meta = urlunsplit(urlsplit(args.server_url)._replace(path=f"/shipshape_up_meta_{uuid.uuid4().hex[:8]}"))
    data = Path(tempfile.mkdtemp(prefix="shipshape-up-bench-"))
    env = {**os.environ, "AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE": wh, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta}
    settings = UpSettings(data_dir=data, airflow_port=free_port(), sandbox_port=free_port(), orders=args.orders,
                          speed=args.speed)
    stack = Stack(settings, env=env)
    try:
        started = time.monotonic()
        stack.start()
        print(f"make up: UI answering, both DAGs parsed and unpaused in {time.monotonic() - started:.1f} s "
              f"({args.orders} orders, speed {args.speed:g}, parallelism {settings.parallelism})", flush=True)
        deadline = time.monotonic() + args.timeout
        timed = 0
        seen: set[str] = set()  # ingest runs judged (timed or not)
        used: set[str] = set()  # reconcile runs already timed
        while timed < args.cycles and time.monotonic() < deadline:
            stack.check()
            ingests = [r for r in stack.airflow.runs("shipshape_ingest") if r.state == "success" and r.end_date]
            reconciles = [r for r in stack.airflow.runs("shipshape_reconcile") if r.start_date]
            for ingest in ingests:
                if ingest.run_id in seen or timed >= args.cycles:
                    continue
                after = [r for r in reconciles if r.start_date >= ingest.end_date - timedelta(seconds=5)]
                if not after:
                    break
                first = min(after, key=lambda r: r.start_date)
                if not first.finished:
                    break
                seen.add(ingest.run_id)
                # a clean cycle: the reconcile started on this ingest's events, not queued behind an
                # earlier reconcile (max_active_runs=1) with other ingests' events piling up
                waited = (first.start_date - ingest.end_date).total_seconds()
                if first.run_id in used or waited > 30 or any(
                        ingest.start_date <= r.start_date < first.start_date for r in reconciles):
                    print(f"  not a clean cycle: ingest {ingest.run_id} (its reconcile started {waited:.0f} s "
                          "after it ended, behind another)", flush=True)
                    continue
                used.add(first.run_id)
                timed += 1
                print(f"cycle {timed} ({'full load' if ingest is ingests[0] else 'incremental'}): ingest "
                      f"{ingest.wall_time:.1f} s, reconcile {first.wall_time:.1f} s ({first.state}), from the "
                      f"ingest run's start to the reconcile run's end "
                      f"{(first.end_date - ingest.start_date).total_seconds():.1f} s", flush=True)
            time.sleep(5)
        return 0 if timed >= args.cycles else 1
    finally:
        stack.stop()
        drop_database(wh)
        drop_database(meta)


if __name__ == "__main__":
    raise SystemExit(main())
