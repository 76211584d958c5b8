"""`shipshape demo` (what `make demo` runs): the pipeline end to end against the sandbox, on the embedded
warehouse unless `AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE` says otherwise.

It starts the warehouse and a sandbox, points every API connection at the sandbox, and runs the DAGs
with Airflow's own `dag.test()` in this process, in an Airflow home under `.data/airflow`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from shipshape import warehouse

log = logging.getLogger(__name__)


def configure_airflow(home: Path, dags_folder: Path, connections: dict[str, str]) -> None:
    """Airflow reads its configuration when first imported: set it before anything imports Airflow."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # dbt runs inside this process (Cosmos's dbtRunner) and would print every model and test of every
    # task here; errors still print, and the marts tell the story
    os.environ.setdefault("DBT_QUIET", "true")
    # dag.test() prints every task's log here too: keep warnings and errors, the demo prints the progress
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.update(connections)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)


def run_dag(dag_id: str, logical_date: datetime, conf: dict[str, Any] | None = None) -> tuple[str, str]:
    """Run one DAG run in-process with `dag.test()`; returns the run's final state and its run id, and
    names the tasks that did not succeed."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    unsuccessful = {ti.task_id: str(ti.state) for ti in run.get_task_instances() if str(ti.state) != "success"}
    if unsuccessful:
        print(f"{dag_id}: tasks that did not succeed: {unsuccessful}")
    return str(run.state), run.run_id


def raw_counts(url: str) -> dict[str, tuple[int, int]]:
    """(distinct records, stored versions) per raw table, and the quarantine's size (raw's other table of
    its own, the deletion journal, is left out)."""
    counts: dict[str, tuple[int, int]] = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
            " and (table_name not like '\\_%' or table_name = '_quarantine') order by 1")]
        for table in tables:
            if table == "_quarantine":
                n = conn.execute("select count(*) from raw._quarantine").fetchone()[0]
                counts[table] = (n, n)
                continue
            counts[table] = conn.execute(
                f'select count(distinct source_id), count(*) from raw."{table}"').fetchone()
    return counts


def print_raw_counts(url: str) -> None:
    print(f"\n{'raw table':<34}{'records':>10}{'versions':>10}")
    for table, (records, versions) in raw_counts(url).items():
        print(f"  raw.{table:<30}{records:>10}{versions:>10}")


DEMO_DATABASE = "shipshape_demo"


def fresh_demo_database(server_url: str) -> str:
    """A new, empty `shipshape_demo` database on `server_url`'s server (dropped first if it exists).

    Each demo starts from a sandbox world built afresh, so it needs a warehouse that has not seen it:
    the outbox would remember the last demo's corrections as applied and send nothing.
    """
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DEMO_DATABASE)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(DEMO_DATABASE)))
    return str(urlsplit(server_url)._replace(path="/" + DEMO_DATABASE).geturl())


def dags_folder() -> Path:
    return warehouse.project_root() / "dags"


# ------------------------------------------------------------------------------------------ reconcile
def mismatch_counts(url: str) -> dict[str, Any]:
    """What the reconcile marts say: orders, orders with a code, count per code (order codes from
    marts.fct_order_reconciliation, ORPHAN_PAYMENT and INVENTORY_MISMATCH from their marts), and the
    correction plan's size."""
    with psycopg.connect(url) as conn:
        orders, flagged = conn.execute(
            "select count(*), count(*) filter (where mismatch_count > 0) from marts.fct_order_reconciliation"
        ).fetchone()
        by_code = dict(conn.execute(
            "select code, count(*) from marts.fct_order_reconciliation, unnest(mismatch_codes) as code "
            "group by code order by code").fetchall())
        by_code["ORPHAN_PAYMENT"] = conn.execute(
            "select count(*) from marts.fct_payment_reconciliation where orphan_payment").fetchone()[0]
        by_code["INVENTORY_MISMATCH"] = conn.execute(
            "select count(*) from marts.fct_inventory_reconciliation where inventory_mismatch").fetchone()[0]
        actions = conn.execute("select count(*) from marts.correction_plan").fetchone()[0]
    return {"orders": orders, "orders_with_a_mismatch": flagged, "by_code": by_code, "planned_actions": actions}


def print_mismatches(url: str, truth_summary: dict[str, Any] | None = None) -> None:
    """Mismatches by code from the marts, next to the sandbox truth's counts when given."""
    marts = mismatch_counts(url)
    truth_by_code = dict((truth_summary or {}).get("by_code", {}))
    if truth_summary is not None:
        truth_by_code["ORPHAN_PAYMENT"] = truth_summary["orphan_payments"]
        truth_by_code["INVENTORY_MISMATCH"] = truth_summary["inventory_mismatches"]
    codes = sorted(set(marts["by_code"]) | set(truth_by_code))
    print(f"\n{'mismatch code':<30}{'marts':>8}{'truth':>8}")
    for code in codes:
        mine, truth = marts["by_code"].get(code, 0), truth_by_code.get(code)
        mark = "" if truth is None or truth == mine else "   <- differs"
        print(f"  {code:<28}{mine:>8}{'' if truth is None else truth:>8}{mark}")
    print(f"  {'orders with a mismatch':<28}{marts['orders_with_a_mismatch']:>8}"
          f"{'' if truth_summary is None else truth_summary['orders_with_a_mismatch']:>8}")
    print(f"  {'orders':<28}{marts['orders']:>8}{'' if truth_summary is None else truth_summary['orders']:>8}")
    print(f"correction plan: {marts['planned_actions']} actions (marts.correction_plan)")


# ---------------------------------------------------------------------------------------- corrections
def print_corrections(url: str, run_id: str) -> None:
    """What push_corrections did in one reconcile run, from ops.correction_log: actions per target,
    action and status, and the outbox's totals."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('ops.correction_log')").fetchone()[0] is None:
            print("push_corrections: no outbox yet (ops.correction_log)")
            return
        rows = conn.execute(
            "select target, action, status, count(*) from ops.correction_log where run_id = %s"
            " group by 1, 2, 3 order by 1, 2, 3", (run_id,)).fetchall()
        totals = dict(conn.execute("select status, count(*) from ops.correction_log group by 1").fetchall())
    print(f"\n{'push_corrections: target / action':<52}{'status':<10}{'actions':>8}")
    for target, action, status, n in rows:
        print(f"  {target + ' / ' + action:<50}{status:<10}{n:>8}")
    if not rows:
        print("  (nothing sent this run)")
    print(f"ops.correction_log, every run so far: {totals}")


def print_quality(url: str) -> None:
    """The quality gates' latest verdicts (ops.quality_runs) and where their Data Docs are."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('ops.quality_runs')").fetchone()[0] is None:
            return
        rows = conn.execute(
            "select distinct on (suite) suite, success, evaluated, failed, data_docs from ops.quality_runs"
            " order by suite, finished_at desc").fetchall()
    for suite, success, evaluated, failed, docs in rows:
        print(f"quality gate {suite}: {'passed' if success else 'FAILED'} ({evaluated} expectations, "
              f"{failed} failed); Data Docs: {docs}")
