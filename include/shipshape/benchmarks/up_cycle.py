"""`make up` measured: how long until the UI answers with both DAGs parsed, and how long one scheduled
cycle takes in the real scheduler (an ingest run, then the reconcile run its Assets start).

    python -m shipshape.benchmarks.up_cycle [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--orders 2000] [--speed 60] [--cycles 2]

It runs `shipshape.up.Stack` (what `make up` runs) on free ports with its warehouse and metadata in
databases of their own on the server, dropped after. A live sandbox at `--speed 60` does an hour of store
activity per minute and ingest runs every minute, so after the first cycle (the full first load) each
cycle is an hour of the store's changes. A cycle is timed from the start of an ingest run to the end of
the first reconcile run that started after it ended; the first is the full load, the rest incremental.
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import timedelta

from shipshape.benchmarks import drop_database, scratch_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default=os.environ.get("SHIPSHAPE_TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--cycles", type=int, default=2, help="cycles to time (the first is the full load)")
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
        seen: set[str] = set()
        while timed < args.cycles and time.monotonic() < deadline:
            stack.check()
            ingests = [r for r in stack.airflow.runs("shipshape_ingest") if r.state == "success" and r.end_date]
            reconciles = [r for r in stack.airflow.runs("shipshape_reconcile") if r.start_date]
            for ingest in ingests:
                if ingest.run_id in seen:
                    continue
                after = [r for r in reconciles if r.start_date >= ingest.end_date - timedelta(seconds=5)]
                if not after:
                    break
                first = min(after, key=lambda r: r.start_date)
                if not first.finished:
                    break
                seen.add(ingest.run_id)
                if any(r.start_date < first.start_date and r.start_date >= ingest.start_date for r in reconciles):
                    continue  # another reconcile ran in between: not a clean cycle
                timed += 1
                print(f"cycle {timed} ({'full load' if timed == 1 else 'incremental'}): ingest "
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
