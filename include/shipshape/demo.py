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

import psycopg

from shipshape import warehouse

log = logging.getLogger(__name__)


def configure_airflow(home: Path, dags_folder: Path, connections: dict[str, str]) -> None:
    """Airflow reads its configuration when first imported: set it before anything imports Airflow."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.update(connections)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)


def run_dag(dag_id: str, logical_date: datetime, conf: dict[str, Any] | None = None) -> str:
    """Run one DAG run in-process with `dag.test()`; returns the run's final state."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    run = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    return str(run.state)


def raw_counts(url: str) -> dict[str, tuple[int, int]]:
    """(distinct records, stored versions) per raw table, and the quarantine's size."""
    counts: dict[str, tuple[int, int]] = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1")]
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
