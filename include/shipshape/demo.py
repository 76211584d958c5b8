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
