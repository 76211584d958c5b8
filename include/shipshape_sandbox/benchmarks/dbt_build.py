"""The reconcile dbt project against one hand-written SQL statement, and its incremental run.

    python -m shipshape_sandbox.benchmarks.dbt_build --orders 100000 [--seed 7] [--advance-hours 2]
        [--rounds run,build] [--no-full-run] [--unit-tests] [--no-default-settings]
        [--statement-timeout 1800] [--keep]

1. **Raw tables**: builds the sandbox world and dumps it through the real extraction (``dump_raw``) into a
   database of its own on ``--server`` (default the system Postgres). The dump is kept as a template and
   cloned by later runs of the same world (:func:`shipshape_sandbox.benchmarks.raw_database`): it takes an hour at
   a million orders.
2. **Full build**: ``dbt build`` as the pipeline runs it (seeds, models and their data tests; the unit tests
   only with ``--unit-tests``: :data:`shipshape.dbt.PIPELINE_FLAGS`) at the world clock, timed as a whole
   and per model (run_results.json); then, unless ``--no-full-run``, ``dbt run --full-refresh``.
3. **Baseline**: ``reconcile_single_statement.sql`` (SPEC.md's rules over the same raw tables, one
   statement) in a session with dbt's settings plus 256 MB of work_mem (:data:`STATEMENT_OPTIONS`), timed,
   and its flags (one per order code of :mod:`shipshape.codes`) compared with
   ``marts.fct_order_reconciliation``'s order by order: the number of
   disagreements is printed and must be 0. It is timed once more with the server's default settings, for
   reference. A statement that runs past ``--statement-timeout`` is cancelled and reported as such.
4. **Incremental**, one round per ``--rounds`` entry: the world moves on ``--advance-hours`` (new orders,
   payments, shipments, tracker updates: about 1 % of the orders at the default), the new versions are
   extracted the way the hourly ingest does (the streams' cursors, a later window; the sandbox on the first
   dump's port), and ``dbt run`` or ``dbt build`` runs at the new clock without ``--full-refresh``. The keys
   each model recomputed are printed; the marts are fingerprinted, rebuilt with ``--full-refresh`` at the
   same as-of, and must be identical; the single statement is checked again.

Every figure of one invocation comes from the same machine in the same run, so the ratios hold even when
other work shares the machine (it adds noise, not bias).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from shipshape import codes, dbt, warehouse
from shipshape_sandbox import lifecycle
from shipshape_sandbox.benchmarks import drop_database, dumped_port, raw_database
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world

SINGLE_STATEMENT = Path(__file__).with_name("reconcile_single_statement.sql")
# the flag columns both sides must have: one per order code of the seed (shipshape.codes)
CODES = tuple(codes.get(code).flag for code in codes.names("order"))
# marts whose rows depend only on the raw data and as_of (mismatch_history keeps the runs' history, so a
# full refresh restarts it by design; mismatch_daily is drawn from it)
COMPARED_MARTS = ("fct_order_reconciliation", "fct_payment_reconciliation", "fct_inventory_reconciliation",
                  "correction_plan")


def _params(as_of: Any) -> dict[str, Any]:
    """The single statement's parameters: dbt_project.yml's defaults of the same settings."""
    return dict(as_of=as_of, amount_tolerance=0.01, grace_hours=1, sla_hours=72, paypal_lag_hours=3,
                ship_on_authorization=True)


# The statement's steps are CTEs, which carry no statistics, and those it reads more than once are
# materialized with the payloads they carry. Under the server's default work_mem (4 MB) it spilled 8.5 GB
# of temporary files at 300k orders and had not finished after 10 minutes (with nested loops off; after
# 37 minutes as it was, on 2026-12-04), where 256 MB of work_mem finishes it in about 75 s; at 100k the
# setting changes nothing. Its author would give one big statement that memory, so it gets it. dbt's sessions keep the server's default: each model is a
# table with statistics and small steps. The setting can only favour the baseline, so the ratios against
# it are, if anything, pessimistic for dbt.
STATEMENT_OPTIONS = f"{dbt.SESSION_OPTIONS} -c work_mem=256MB"


def single_statement(url: str, as_of: Any, options: str = STATEMENT_OPTIONS,
                     timeout_s: float = 0) -> tuple[float, dict[int, tuple[bool, ...]]]:
    """Run the hand-written statement, in a session with ``options`` (PGOPTIONS syntax; by default dbt's
    settings with more work_mem); its time and its flags per order. A ``timeout_s`` above 0 cancels it
    then (psycopg.errors.QueryCanceled). The flags are in :data:`CODES`'s order; a code the statement has no
    column for is an error naming it."""
    sql = SINGLE_STATEMENT.read_text()
    if timeout_s > 0:
        options = f"{options} -c statement_timeout={int(timeout_s * 1000)}"
    with psycopg.connect(url, options=options) as conn:
        started = time.monotonic()
        cursor = conn.execute(sql, _params(as_of))
        rows = cursor.fetchall()
        seconds = time.monotonic() - started
        columns = [column.name for column in cursor.description]
    missing = [code for code in CODES if code not in columns]
    if missing:
        raise LookupError(f"{SINGLE_STATEMENT.name} has no column for {', '.join(missing)}: write its rule there")
    positions = [columns.index(code) for code in CODES]
    return seconds, {row[0]: tuple(bool(row[i]) for i in positions) for row in rows}


def disagreements(url: str, flags: dict[int, tuple[bool, ...]]) -> Counter[str]:
    """Per code, the orders where the statement and marts.fct_order_reconciliation differ."""
    with psycopg.connect(url) as conn:
        mart = {row[0]: tuple(bool(v) for v in row[1:]) for row in conn.execute(
            f"select shopify_order_id, {', '.join(CODES)} from marts.fct_order_reconciliation")}
    out: Counter[str] = Counter()
    for order_id in mart.keys() | flags.keys():
        if order_id not in mart or order_id not in flags:
            out["missing order"] += 1
            continue
        out.update(code for code, a, b in zip(CODES, mart[order_id], flags[order_id], strict=True) if a != b)
    return out


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of each compared mart."""
    with psycopg.connect(url) as conn:
        return {mart: conn.execute(
            f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), ''))"
            f" from marts.{mart} as t").fetchone() for mart in COMPARED_MARTS}


def timed_dbt(args: list[str], url: str, as_of: Any, work: Path) -> tuple[float, dict[str, float]]:
    """Wall time of one dbt invocation, and each model's execution time (run_results.json); a line on its
    data tests is printed when it ran any."""
    started = time.monotonic()
    result = dbt.run(args, url=url, as_of=as_of, target_path=work / "target", log_path=work / "logs", echo=False)
    seconds = time.monotonic() - started
    result.raise_for_status()
    times = {kind: {r["unique_id"].split(".")[2]: r["execution_time"] for r in result.results
                    if r["unique_id"].startswith(f"{kind}.")} for kind in ("model", "test")}
    if times["test"]:
        print(f"  ({' '.join(args)}: {len(times['test'])} data tests, summed {sum(times['test'].values()):.1f} s;"
              f" slowest: {_top(times['test'], 6)})")
    return seconds, times["model"]


def _row_md5s(url: str) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        # as_of is in every row: leave it out, so that only what the systems say counts as a change
        return dict(conn.execute(
            "select shopify_order_id, md5((t.*)::text) from (select shopify_order_id, order_status,"
            " payment_status, fulfillment_status, shipping_status, mismatch_codes, amount_at_risk,"
            " gateway_captured_amount, shopify_received_amount, tracking_numbers"
            " from marts.fct_order_reconciliation) as t").fetchall())


def _raw_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
            " and table_name not like '\\_%' order by 1")]
        return {t: conn.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}


def _recomputed(url: str) -> dict[str, int | str]:
    """How many keys each incremental model's last run recomputed ('all' after a full build)."""
    with psycopg.connect(url) as conn:
        return {model: "all" if everything else keys for model, keys, everything in conn.execute(
            "select model, count(key), bool_or(key is null) from ops.dbt_model_scope group by model"
            " order by model")}


def _top(models: dict[str, float], n: int = 8) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(models.items(), key=lambda kv: -kv[1])[:n])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--advance-hours", type=float, default=2.0)
    parser.add_argument("--server", default=os.environ.get("SHIPSHAPE_BENCH_SERVER",
                                                           "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rounds", default="run,build",
                        help="the incremental rounds, each dbt run or build after its own change (default: run,build)")
    parser.add_argument("--no-full-run", dest="full_run", action="store_false",
                        help="skip the `dbt run --full-refresh` after the first build")
    parser.add_argument("--unit-tests", action="store_true",
                        help="dbt build runs the unit tests too (the pipeline leaves them out)")
    parser.add_argument("--no-default-settings", dest="default_settings", action="store_false",
                        help="skip the reference run of the statement under the server's default settings")
    parser.add_argument("--statement-timeout", type=float, default=1800,
                        help="cancel a run of the single statement after this many seconds (0: never)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
          f" orders {args.orders}, seed {args.seed}")
    started = time.monotonic()
    world = build_world(args.orders, seed=args.seed)
    print(f"world built in {time.monotonic() - started:.1f} s; clock {world.clock.isoformat()}")
    started = time.monotonic()
    url, reused = raw_database(args.server, args.orders, args.seed,
                               lambda target: dump_raw(world, target, run_id="bench-dump-1"), "shipshape_bench_dbt")
    work = Path(tempfile.mkdtemp(prefix="shipshape-bench-dbt-"))
    try:
        raw = _raw_rows(url)
        print(f"raw {'cloned from the kept dump' if reused else 'dumped'} in {time.monotonic() - started:.1f} s:"
              f" {sum(raw.values())} rows ({', '.join(f'{k} {v}' for k, v in raw.items())})")

        # ----------------------------------------------------------------------------------- full
        as_of = world.clock
        build = ["build"] if args.unit_tests else ["build", *dbt.PIPELINE_FLAGS]
        print(f"dbt build is: dbt {' '.join(build)}")
        build_s, build_models = timed_dbt(build, url, as_of, work)
        print(f"full dbt build: {build_s:.1f} s (model time summed over dbt's threads:"
              f" {sum(build_models.values()):.1f} s);"
              f" top models: {_top(build_models)}")
        print("per model (full build, s): " + json.dumps({k: round(v, 2) for k, v in sorted(
            build_models.items(), key=lambda kv: -kv[1])}))
        stmt_s, flags = single_statement(url, as_of, timeout_s=args.statement_timeout)
        wrong = disagreements(url, flags)
        print(f"single statement ({STATEMENT_OPTIONS}): {stmt_s:.1f} s, {len(flags)} orders;"
              f" disagreements with fct_order_reconciliation: {sum(wrong.values())} {dict(wrong)}")
        print(f"ratio dbt build / single statement: {build_s / stmt_s:.2f}")
        if args.full_run:
            run_s, run_models = timed_dbt(["run", "--full-refresh"], url, as_of, work)
            print(f"full dbt run --full-refresh: {run_s:.1f} s ({run_s / stmt_s:.2f} x the statement);"
                  f" top models: {_top(run_models)}")
        if args.default_settings:
            try:
                default_s, _ = single_statement(url, as_of, options="", timeout_s=args.statement_timeout)
                print(f"single statement with the server's default settings: {default_s:.1f} s"
                      f" (dbt build / that: {build_s / default_s:.2f})")
            except psycopg.errors.QueryCanceled:
                print(f"single statement with the server's default settings: did not finish in"
                      f" {args.statement_timeout:.0f} s (cancelled)")

        # ---------------------------------------------------------------------------- incremental
        # two rounds, each after its own ~1 % change: `dbt run` against `dbt run --full-refresh`, then
        # `dbt build` against `dbt build --full-refresh`, each pair at the same as-of over the same rows
        # the sandbox serves the later rounds on the first dump's port: its address is in PayPal's links,
        # and a real PayPal keeps its address (on another port every tracker would be a new version)
        port = dumped_port(url)
        same_all, wrong_all = True, Counter()
        commands = (build if name == "build" else [name] for name in args.rounds.split(","))
        for round_no, command in enumerate(commands, start=2):
            before = _row_md5s(url)
            applied = lifecycle.advance(world, timedelta(hours=args.advance_hours))
            started = time.monotonic()
            dump_raw(world, url, run_id=f"bench-dump-{round_no}", port=port)
            after_raw = _raw_rows(url)
            new_versions = {k: after_raw[k] - raw.get(k, 0) for k in after_raw}
            raw = after_raw
            print(f"world advanced {args.advance_hours} h ({applied} events); new versions extracted in"
                  f" {time.monotonic() - started:.1f} s: {sum(new_versions.values())}"
                  f" ({', '.join(f'{k} {v}' for k, v in new_versions.items() if v)})")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("analyze")
            as_of = world.clock
            inc_s, inc_models = timed_dbt(command, url, as_of, work)
            recomputed = _recomputed(url)
            incremental = fingerprint(url)
            after = _row_md5s(url)
            changed = sum(1 for k, v in after.items() if before.get(k) != v)
            refresh_s, _ = timed_dbt([*command, "--full-refresh"], url, as_of, work)
            same = fingerprint(url) == incremental
            stmt_s, flags = single_statement(url, as_of, timeout_s=args.statement_timeout)
            wrong_now = disagreements(url, flags)
            same_all, wrong_all = same_all and same, wrong_all + wrong_now
            name = command[0]
            print(f"  orders whose reconciled row changed: {changed} of {len(after)} ({changed / len(after):.2%})")
            print(f"  incremental dbt {name}: {inc_s:.1f} s; top models: {_top(inc_models)}")
            print(f"  keys recomputed (staging: raw records; intermediate: its grain's keys): {recomputed}")
            print(f"  dbt {name} --full-refresh at the same as-of: {refresh_s:.1f} s;"
                  f" incremental / full: {inc_s / refresh_s:.3f}; marts identical: {same}")
            print(f"  single statement: {stmt_s:.1f} s; disagreements: {sum(wrong_now.values())}")
            if command == build:
                print(f"  incremental dbt build / first full dbt build: {inc_s / build_s:.3f}")
        wrong = wrong + wrong_all
        ok = not wrong and same_all
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept: {warehouse.mask_url(url)}")
        else:
            drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
