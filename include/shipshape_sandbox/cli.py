"""The sandbox's commands: `shipshape sandbox ...` and `shipshape demo`, or `python -m shipshape_sandbox ...`.

    shipshape sandbox serve --orders N --seed S [--port 8765] [--faults none|flaky|hostile] [--rate-limits real|off]
                            [--live [--speed 60]]   # the clock follows the wall clock
    shipshape sandbox connections --port P        # AIRFLOW_CONN_* lines for a running sandbox
    shipshape sandbox advance --hours H [--port P]
    shipshape sandbox truth [--port P]             # summary of the running sandbox's ground truth
    shipshape sandbox dump-raw --orders N --seed S  # a world straight into the raw tables
    shipshape demo                                 # ingest + reconcile against the sandbox

The product's CLI (`shipshape.cli`) does not import this package: it finds `sandbox` and `demo` through
the `shipshape.commands` entry points this package declares (pyproject.toml), each a function that adds
its command to the product's subparsers. `python -m shipshape_sandbox serve ...` runs the same commands
where the package is on the path but not installed (docker-compose.yaml's sandbox service).

Module-level imports stay light: `shipshape --help` loads this module.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8765
log = logging.getLogger("shipshape")


def _parse_start(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give the start with a time zone, e.g. 2026-11-01T12:00:00Z")
    return parsed


def _fetch(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())
    except OSError as exc:
        raise SystemExit(f"shipshape: no sandbox answered at {url} ({exc}); start one with `shipshape sandbox serve`") from None


def summarise_truth(truth: dict[str, Any]) -> dict[str, Any]:
    by_code = Counter(code for order in truth["orders"] for code in order["codes"])
    flagged = sum(1 for order in truth["orders"] if order["codes"])
    return {
        "as_of": truth["as_of"],
        "orders": len(truth["orders"]),
        "orders_with_a_mismatch": flagged,
        "by_code": dict(sorted(by_code.items())),
        "orphan_payments": len(truth["orphan_payments"]),
        "inventory_mismatches": len(truth["inventory_mismatches"]),
    }


def build_sandbox(args: argparse.Namespace):
    from shipshape_sandbox.generate import DEFAULT_START, build_world
    from shipshape_sandbox.live import LiveClock, load_world, now_minute
    from shipshape_sandbox.server import Sandbox

    started = time.monotonic()
    state = getattr(args, "state", None)
    live = LiveClock(speed=args.speed, state_path=state) if getattr(args, "live", False) else None
    if live is not None and args.start is not None:
        raise SystemExit("--live builds a world whose history ends now: leave out --start")
    world = load_world(state) if live is not None and state is not None else None
    if world is not None:
        log.info("loaded the world kept in %s (clock %s); catching up to now", state, world.clock.isoformat())
        live.catch_up(world)
    else:
        log.info("building a world of %d orders (seed %d)…", args.orders, args.seed)
        world = build_world(args.orders, seed=args.seed,
                            start=args.start or (now_minute() if live else DEFAULT_START))
    log.info("world ready in %.1f s, clock at %s%s", time.monotonic() - started, world.clock.isoformat(),
             f" (live, following the wall clock at {live.speed:g}x activity)" if live else "")
    return Sandbox(world, faults=args.faults, rate_limits=args.rate_limits,
                   base_url=f"http://{args.host}:{args.port}", live=live)


# ------------------------------------------------------------------------------------------ sandbox
def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from shipshape_sandbox.connections import connections_file
    from shipshape_sandbox.runner import serve

    sandbox = build_sandbox(args)
    if args.connections_file is not None:
        advertised = args.advertise_url or f"http://{args.host}:{args.port}"
        args.connections_file.parent.mkdir(parents=True, exist_ok=True)
        args.connections_file.write_text(json.dumps(connections_file(advertised, sandbox.credentials.as_json()),
                                                    indent=2))
        args.connections_file.chmod(0o600)
        log.info("wrote the API connections to %s (for Airflow's LocalFilesystemBackend)", args.connections_file)
    clock = f"live at {args.speed:g}x" if args.live else "moves with `shipshape sandbox advance`"
    print(f"sandbox serving on http://{args.host}:{args.port} (faults={args.faults}, rate limits={args.rate_limits},"
          f" clock {clock});"
          f" `shipshape sandbox connections --port {args.port}` prints the Airflow connections", flush=True)
    serve(sandbox, host=args.host, port=args.port)
    return 0


def cmd_sandbox_connections(args: argparse.Namespace) -> int:
    from shipshape_sandbox.connections import connection_env

    base = f"http://{args.host}:{args.port}"
    credentials = _fetch(f"{base}/_sandbox/credentials")
    for name, value in connection_env(base, credentials).items():
        print(f"export {name}='{value}'")
    return 0


def cmd_sandbox_advance(args: argparse.Namespace) -> int:
    result = _fetch(f"http://{args.host}:{args.port}/_sandbox/advance?hours={args.hours}", method="POST")
    print(json.dumps(result, indent=2))
    return 0


def cmd_sandbox_truth(args: argparse.Namespace) -> int:
    truth = _fetch(f"http://{args.host}:{args.port}/_sandbox/truth")
    print(json.dumps(truth if args.full else summarise_truth(truth), indent=2))
    return 0


def cmd_sandbox_dump_raw(args: argparse.Namespace) -> int:
    from shipshape import warehouse
    from shipshape_sandbox import demo
    from shipshape_sandbox.dump import dump_raw

    url = warehouse.up()  # the configured warehouse, else the embedded one; bootstrapped
    sandbox = build_sandbox(args)
    started = time.monotonic()
    results = dump_raw(sandbox.world, url)
    print(f"dumped {sum(r['fetched'] for r in results)} records into {warehouse.mask_url(url)} "
          f"in {time.monotonic() - started:.1f} s")
    demo.print_raw_counts(url)
    return 0


# --------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """The pipeline end to end against the sandbox, twice: ingest -> reconcile (dbt, the quality gates,
    push_corrections applying the plan to the sandbox); then the sandbox's clock moves on an hour and it
    runs again, so the corrections show up as mismatches gone. Prints what landed, the mismatches by
    code against the sandbox's truth, and the actions applied."""
    from shipshape import warehouse
    from shipshape_sandbox import demo
    from shipshape_sandbox.connections import connection_env
    from shipshape_sandbox.runner import running
    from shipshape_sandbox.truth import compute_truth

    configured = warehouse.resolve_url()
    if configured:
        url = configured
        print("note: AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE is set, so the demo uses that database as it is; on a "
              "database an earlier demo used, the corrections it applied are not sent again")
    else:
        url = demo.fresh_demo_database(warehouse.start_embedded())
    warehouse.bootstrap(url)  # here, once: the DAGs' tasks only look the warehouse up
    print(f"warehouse: {warehouse.mask_url(url)}")
    args.host = "127.0.0.1"
    sandbox = build_sandbox(args)
    with running(sandbox, port=args.port) as base:
        world = sandbox.world
        print(f"sandbox:   {base} (seed {args.seed}, {args.orders} orders, clock {world.clock.isoformat()})")
        # the reconcile DAG's dbt (Cosmos) reads the warehouse from the Airflow connection, so the embedded
        # warehouse is handed to Airflow as `shipshape_warehouse` too
        demo.configure_airflow(warehouse.project_root() / ".data" / "airflow", demo.dags_folder(),
                               {**connection_env(base, sandbox.credentials.as_json()), warehouse.CONN_ENV: url})
        for round_ in (1, 2):
            if round_ == 2:
                sandbox.advance(1)
                print(f"\n===== the sandbox's clock moves on an hour, to {world.clock.isoformat()}: new orders "
                      "arrive, and the corrections applied above are now in the systems =====")
            truth = summarise_truth(compute_truth(world))
            print(f"\nthe sandbox's ground truth: {truth['orders_with_a_mismatch']} of {truth['orders']} orders "
                  f"disagree somewhere; {truth['orphan_payments']} orphan payments; "
                  f"{truth['inventory_mismatches']} SKUs out of sync")
            print(f"\nrunning shipshape_ingest for the hour ending {world.clock.isoformat()} (Airflow dag.test) …",
                  flush=True)
            state, _ = demo.run_dag("shipshape_ingest", world.clock)
            print(f"shipshape_ingest: {state}")
            demo.print_raw_counts(url)
            requests = sandbox.stats.as_json()
            print(f"\nsandbox served {requests['requests_total']} requests so far "
                  f"({requests['throttled_total']} throttled)")
            if state != "success":
                return 1
            # Asset-scheduled, but dag.test() runs it for a logical date: the same as-of as the ingest run
            print(f"\nrunning shipshape_reconcile as of {world.clock.isoformat()}: one dbt build through Cosmos "
                  "(watcher mode: a task per model reports it), the quality gates, push_corrections …", flush=True)
            state, run_id = demo.run_dag("shipshape_reconcile", world.clock)
            print(f"shipshape_reconcile: {state}")
            demo.print_mismatches(url, truth)
            demo.print_quality(url)
            demo.print_corrections(url, run_id)
            if state != "success":
                return 1
        after = summarise_truth(compute_truth(world))
        writes = sandbox.stats.as_json()["mutations_applied"]
        print(f"\nafter the second push the sandbox's truth has {after['orders_with_a_mismatch']} orders that "
              f"disagree; writes the sandbox applied over both runs: {writes}")
    return 0


# ------------------------------------------------------------------------------------------ parsers
def _sandbox_world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders", type=int, default=2000, help="orders in the world (default 2000)")
    p.add_argument("--seed", type=int, default=7, help="world seed: same seed, same world (default 7)")
    p.add_argument("--faults", choices=("none", "flaky", "hostile"), default="none")
    p.add_argument("--rate-limits", choices=("real", "off"), default="real", dest="rate_limits")
    p.add_argument("--start", type=_parse_start, default=None,
                   help="the world's clock once built, ISO 8601 with zone (default 2026-11-01T12:00:00Z)")


def _add_sandbox_subcommands(sbs) -> None:
    """serve, dump-raw, connections, advance, truth: under `shipshape sandbox` or `python -m shipshape_sandbox`."""
    serve = sbs.add_parser("serve", help="build a world and serve it")
    _sandbox_world_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--live", action="store_true",
                       help="the world's history ends now and its clock follows the wall clock")
    serve.add_argument("--speed", type=float, default=1.0,
                       help="with --live: store activity per real time (60: an hour of orders per minute)")
    serve.add_argument("--state", type=Path, default=None,
                       help="with --live: keep the world in this file and resume it on the next start")
    serve.add_argument("--connections-file", type=Path, default=None,
                       help="write the API connections here, as Airflow's LocalFilesystemBackend reads them")
    serve.add_argument("--advertise-url", default=None,
                       help="the address other hosts reach the sandbox at (default http://HOST:PORT)")
    serve.set_defaults(func=cmd_sandbox_serve)
    dump = sbs.add_parser("dump-raw", help="write a sandbox world straight into the raw tables")
    _sandbox_world_args(dump)
    dump.set_defaults(func=cmd_sandbox_dump_raw, host="127.0.0.1", port=0, faults="none", rate_limits="off")
    for name, func, help_ in (
        ("connections", cmd_sandbox_connections, "print AIRFLOW_CONN_* lines for a running sandbox"),
        ("advance", cmd_sandbox_advance, "move a running sandbox's clock forward"),
        ("truth", cmd_sandbox_truth, "a running sandbox's ground truth (summary, or --full)"),
    ):
        p = sbs.add_parser(name, help=help_)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=DEFAULT_PORT)
        if name == "advance":
            p.add_argument("--hours", type=float, required=True)
        if name == "truth":
            p.add_argument("--full", action="store_true")
        p.set_defaults(func=func)


def add_sandbox_command(subparsers, name: str = "sandbox") -> None:
    """The `shipshape.commands` entry point `sandbox`: adds `shipshape sandbox ...` to the product's CLI."""
    sb = subparsers.add_parser(name, help="the local stand-in for all five APIs")
    _add_sandbox_subcommands(sb.add_subparsers(dest="sandbox_command", required=True))


def add_demo_command(subparsers, name: str = "demo") -> None:
    """The `shipshape.commands` entry point `demo`: adds `shipshape demo` (what `make demo` runs)."""
    demo = subparsers.add_parser(name, help="run the sandboxed pipeline end to end")
    _sandbox_world_args(demo)
    # A fixed port by default: PayPal's payloads carry absolute links, so a rerun on another port would store
    # new versions of unchanged records.
    demo.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"sandbox port (default {DEFAULT_PORT})")
    # Real limits make a first load wait on ShipHero's credits (about 7 min for 2000 orders): the demo
    # shows the pipeline, the tests and benchmarks show the throttling. `--rate-limits real` to see it.
    demo.set_defaults(func=cmd_demo, rate_limits="off")


def parser() -> argparse.ArgumentParser:
    """`python -m shipshape_sandbox`: the sandbox's subcommands at the top, and `demo`."""
    top = argparse.ArgumentParser(prog="python -m shipshape_sandbox", description=__doc__.split("\n\n")[0])
    top.add_argument("-v", "--verbose", action="store_true")
    sub = top.add_subparsers(dest="sandbox_command", required=True)
    _add_sandbox_subcommands(sub)
    add_demo_command(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    from shipshape.cli import run

    return run(parser().parse_args(argv))
