"""The `shipshape` command: the warehouse, the real Airflow, the console, dbt; and the sandbox's commands.

    shipshape warehouse up|down|status
    shipshape up [--speed 60] / shipshape down      # the real Airflow, live sandbox, until Ctrl-C
    shipshape console [--address A] [--port P]     # the mismatch console (Streamlit) on the warehouse
    shipshape dbt [--as-of T] <dbt args>           # dbt on dbt_project/ against the warehouse
    shipshape sandbox serve|connections|advance|truth|dump-raw ...   # from the sandbox package
    shipshape demo                                 # ingest + reconcile against the sandbox (idem)

Other packages add commands through the `shipshape.commands` entry point group: each entry point is
named after its command and is a function `(subparsers, name)` that adds it. The sandbox
(`shipshape_sandbox`, the project's `sandbox` extra) adds `sandbox` and `demo` this way, so the product
never imports it; without it those two commands say how to install it (`shipshape.commands`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("shipshape")


# ---------------------------------------------------------------------------------------- warehouse
def cmd_warehouse(args: argparse.Namespace) -> int:
    from shipshape import warehouse

    if args.action == "up":
        url = warehouse.up()
        print(f"warehouse ready: {warehouse.mask_url(url)}")
    elif args.action == "down":
        print(warehouse.down())
    else:
        print(json.dumps(warehouse.status(), indent=2, default=str))
    return 0


# ----------------------------------------------------------------------------------------------- up
def cmd_up(args: argparse.Namespace) -> int:
    from shipshape.up import UpSettings, up

    settings = UpSettings(orders=args.orders, seed=args.seed, speed=args.speed, rate_limits=args.rate_limits)
    if args.parallelism:
        settings.parallelism = args.parallelism
    if args.airflow_port:
        settings.airflow_port = args.airflow_port
    if args.sandbox_port:
        settings.sandbox_port = args.sandbox_port
    if args.console_port:
        settings.console_port = args.console_port
    return up(settings)


def cmd_down(args: argparse.Namespace) -> int:
    from shipshape.up import down

    return down()


# ------------------------------------------------------------------------------------------ console
def cmd_console(args: argparse.Namespace) -> int:
    """The mismatch console in the foreground, on the configured warehouse or the embedded one (started
    if need be), reading as the console's read-only role; Ctrl-C stops it."""
    import dataclasses
    import os
    import subprocess

    from shipshape import warehouse
    from shipshape.console.server import argv, environment
    from shipshape.console.settings import CONSOLE_CONN_ENV, CONSOLE_CONN_ID, ConsoleError, ConsoleSettings

    settings = ConsoleSettings.from_env()
    settings = dataclasses.replace(settings, **{k: v for k, v in (("address", args.address), ("port", args.port))
                                                if v is not None})
    try:
        settings.check()
        url = warehouse.up()  # bootstraps too: the console's role and its grants
        env = environment(settings, url, os.environ)
        given = warehouse.configured(conn_id=CONSOLE_CONN_ID)
        # a server that asks for passwords: the role gets the connection's (never printed)
        if given is not None and given.login == warehouse.CONSOLE_ROLE and given.password:
            warehouse.set_console_password(url, given.password)
    except ConsoleError as exc:
        print(f"shipshape console: {exc}", file=sys.stderr)
        return 2
    login = "a login (SHIPSHAPE_CONSOLE_PASSWORD)" if settings.password else "no login (loopback only)"
    print(f"console on {settings.url}, {login}; reading {warehouse.mask_url(env[CONSOLE_CONN_ENV])}", flush=True)
    try:
        return subprocess.call(argv(settings), env=env)
    except KeyboardInterrupt:  # Streamlit got the Ctrl-C too (same process group) and stops by itself
        return 0


# ---------------------------------------------------------------------------------------------- dbt
def cmd_dbt(args: argparse.Namespace) -> int:
    """dbt on shipshape's project against the warehouse (the shipshape_warehouse connection, else the
    embedded one); `shipshape dbt manifest` rewrites the manifest shipshape_reconcile is rendered from."""
    from shipshape import dbt

    logging.getLogger("shipshape.dbt").setLevel(logging.INFO)
    if args.dbt_args == ["manifest"]:
        print(f"wrote {dbt.write_manifest()}")
        return 0
    if not args.dbt_args:
        print("usage: shipshape dbt <dbt command and arguments>, e.g. build --select marts", file=sys.stderr)
        return 2
    from shipshape import warehouse

    try:
        return dbt.run(args.dbt_args, as_of=args.as_of).returncode
    except warehouse.WarehouseNotConfigured as exc:  # says how to set one up; no traceback needed
        print(f"shipshape dbt: {exc}", file=sys.stderr)
        return 2


# ----------------------------------------------------------------------------- other packages' commands
def _missing(name: str, why: str):
    def cmd(args: argparse.Namespace) -> int:
        print(f"shipshape {name}: not available here; {why}", file=sys.stderr)
        return 2

    return cmd


def _add_entry_point_commands(sub) -> None:
    from shipshape import commands

    found = commands.installed()
    for name in sorted(set(found) | set(commands.OPTIONAL)):
        help_, install = commands.OPTIONAL.get(name, ("", ""))
        if name in found:
            try:
                found[name].load()(sub, name)
                continue
            except ImportError as exc:  # installed metadata, but the code or a dependency is gone
                install = f"{found[name].value} does not import ({exc}); {install or 'reinstall it'}"
        # takes any arguments, --help too (no option prefix), and answers each with how to install it
        stub = sub.add_parser(name, help=f"{help_} (not installed)", add_help=False, prefix_chars="\0")
        stub.add_argument("rest", nargs="*")
        stub.set_defaults(func=_missing(name, install))


# --------------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="shipshape", description=__doc__.split("\n\n")[0])
    top.add_argument("-v", "--verbose", action="store_true")
    sub = top.add_subparsers(dest="command", required=True)

    wh = sub.add_parser("warehouse", help="start, stop or inspect the warehouse")
    wh.add_argument("action", choices=("up", "down", "status"))
    wh.set_defaults(func=cmd_warehouse)

    up = sub.add_parser("up", help="the real Airflow on the warehouse against a live sandbox, until Ctrl-C")
    up.add_argument("--orders", type=int, default=2000, help="orders in a new sandbox world (default 2000)")
    up.add_argument("--seed", type=int, default=7, help="seed of a new sandbox world (default 7)")
    up.add_argument("--speed", type=float, default=1.0,
                    help="sandbox activity per real time; 60: an hour of orders a minute, ingested every minute")
    up.add_argument("--rate-limits", choices=("real", "off"), default="off", dest="rate_limits")
    up.add_argument("--parallelism", type=int, default=None, help="Airflow tasks at once (default: one per core)")
    up.add_argument("--airflow-port", type=int, default=None, help="default $SHIPSHAPE_AIRFLOW_PORT or 8080")
    up.add_argument("--sandbox-port", type=int, default=None, help="default $SHIPSHAPE_SANDBOX_PORT or 8765")
    up.add_argument("--console-port", type=int, default=None, help="default $SHIPSHAPE_CONSOLE_PORT or 8501")
    up.set_defaults(func=cmd_up)
    console = sub.add_parser("console", help="the mismatch console (Streamlit) on the warehouse, until Ctrl-C")
    console.add_argument("--address", default=None,
                         help="listen address (default $SHIPSHAPE_CONSOLE_ADDRESS or 127.0.0.1; any other needs "
                              "SHIPSHAPE_CONSOLE_PASSWORD)")
    console.add_argument("--port", type=int, default=None, help="default $SHIPSHAPE_CONSOLE_PORT or 8501")
    console.set_defaults(func=cmd_console)
    down = sub.add_parser("down", help="stop what `shipshape up` started (from another shell)")
    down.set_defaults(func=cmd_down)

    dbt_ = sub.add_parser("dbt", help="run dbt on the project against the warehouse (e.g. shipshape dbt build)",
                          description="Any dbt command line, run on dbt_project/ against the warehouse. "
                          "`shipshape dbt manifest` rewrites dbt_project/manifest.json.")
    dbt_.add_argument("--as-of", dest="as_of", default=None,
                      help="the as_of var (timestamptz, e.g. 2026-11-01T12:00:00Z; default dbt_project.yml's)")
    dbt_.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt command and arguments")
    dbt_.set_defaults(func=cmd_dbt)

    _add_entry_point_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command (``args.func``) with the command line's logging (``args.verbose``); the sandbox's
    own command line (``python -m shipshape_sandbox``) runs its commands through this too."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl command line at INFO
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
