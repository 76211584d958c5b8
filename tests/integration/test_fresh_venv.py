"""The product installed alone, as a deployment installs it: `pip install -c constraints.txt <checkout>` into
a new virtualenv, without the `sandbox` extra. In that virtualenv the sandbox does not import (a built
distribution carries the product only) and none of its own dependencies is installed, the CLI says how to
get the sandbox's commands, the DAG folder parses without an import error, and shipshape_ingest
runs (Airflow's `dag.test()`) against real connections: a sandbox served from this test's process and a
Postgres database, both handed over only as AIRFLOW_CONN_* variables. Rows land in raw.

Slow by nature (a new virtualenv with Airflow, dbt and Great Expectations in it; pip's cache and the
machine's wheelhouse make it a minute or two), so it runs with the integration tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from shipshape import warehouse
from shipshape_sandbox.connections import connection_env
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# the sandbox group's own distributions; uvicorn, starlette and PyJWT are not here: Airflow brings them
SANDBOX_ONLY = ("graphql-core", "stripe", "openapi-core", "openapi-schema-validator")

# Run inside the new virtualenv: parse the DAG folder, then run shipshape_ingest once for the hour that
# ends at argv[2]; prints what it found as one JSON line.
RUN_INGEST = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
result = {"import_errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}
if not bag.import_errors:
    run = bag.dags["shipshape_ingest"].test(logical_date=datetime.fromisoformat(sys.argv[2]))
    result["state"] = str(run.state)
    result["run_id"] = run.run_id
    result["tasks"] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("RESULT " + json.dumps(result))
"""

# What the new virtualenv holds: where shipshape comes from, whether the sandbox imports, which of the
# sandbox's own distributions are installed.
INSPECT = """
import importlib.metadata as md, importlib.util, json, sys
import shipshape
print(json.dumps({
    "shipshape": shipshape.__file__,
    "sandbox_importable": importlib.util.find_spec("shipshape_sandbox") is not None,
    "installed": [d for d in sys.argv[1:] if any(x.metadata["Name"].lower() == d for x in md.distributions())],
}))
"""


def base_python() -> str:
    """The Python 3.11 this test runs on, outside any virtualenv (the venv module copies from it)."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return base
    found = shutil.which("python3.11")
    if found is None:
        pytest.fail("no Python 3.11 to make a virtualenv with")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would let the new virtualenv see this checkout's code or
    this session's Airflow (PYTHONPATH, VIRTUAL_ENV, AIRFLOW_*), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("AIRFLOW")}
    env.update(extra)
    return env


def source_copy(target: Path) -> Path:
    """What `pip install <checkout>` builds from, copied: setuptools builds in the source tree and its
    build/ keeps files from earlier builds, which would end up in the wheel; a copy has none (and the
    checkout gets no build output). include/ is copied whole, the sandbox too: the build must leave it out."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "include", target / "include",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def product_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the checkout installed as a deployment would: `pip install -c constraints.txt
    <checkout>`, no extra. Returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("product-venv") / "venv"
    source = source_copy(tmp_path_factory.mktemp("product-source"))
    started = time.monotonic()
    subprocess.run([base_python(), "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input", "-q", "--no-compile", "-c",
         str(REPO / "constraints.txt"), str(source)],
        capture_output=True, text=True, timeout=900, env=clean_env(), cwd=venv.parent)
    assert install.returncode == 0, f"pip install of the product failed:\n{install.stdout[-3000:]}\n{install.stderr[-5000:]}"
    print(f"product venv: installed in {time.monotonic() - started:.0f} s")
    return venv / "bin"


def test_the_product_alone_has_no_sandbox(product_venv: Path, tmp_path: Path):
    inspected = subprocess.run([str(product_venv / "python"), "-c", INSPECT, *SANDBOX_ONLY],
                               capture_output=True, text=True, timeout=120, env=clean_env(), cwd=tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    found = json.loads(inspected.stdout)
    assert found["shipshape"].startswith(str(product_venv.parent)), found  # the installed copy, not the checkout
    assert found["sandbox_importable"] is False
    assert found["installed"] == [], f"the product's install brought the sandbox's dependencies: {found['installed']}"

    # the CLI keeps every command, and says how to get the sandbox's
    helped = subprocess.run([str(product_venv / "shipshape"), "--help"], capture_output=True, text=True,
                            timeout=120, env=clean_env(), cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for command in ("warehouse", "up", "down", "console", "dbt", "sandbox", "demo"):
        assert command in helped.stdout, command
    serve = subprocess.run([str(product_venv / "shipshape"), "sandbox", "serve", "--orders", "5"],
                           capture_output=True, text=True, timeout=120, env=clean_env(), cwd=tmp_path)
    assert serve.returncode == 2
    assert "[sandbox]" in serve.stderr and "not available" in serve.stderr, serve.stderr


def test_the_product_alone_runs_ingest_against_real_connections(product_venv: Path, fresh_database: str,
                                                                tmp_path: Path):
    world = build_world(60, seed=11)
    warehouse.bootstrap(fresh_database)
    home = tmp_path / "airflow"
    env = clean_env(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                    AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"), AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
                    AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE=fresh_database, DBT_QUIET="true")
    started = time.monotonic()
    migrate = subprocess.run([str(product_venv / "airflow"), "db", "migrate"], capture_output=True, text=True,
                             timeout=600, env=env, cwd=REPO)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        env.update(connection_env(base, sandbox.credentials.as_json()))
        # cwd: the checkout, where the installed product finds dbt_project/ for the reconcile DAG's render
        ran = subprocess.run([str(product_venv / "python"), "-c", RUN_INGEST, str(REPO / "dags"),
                              world.clock.isoformat()], capture_output=True, text=True, timeout=900, env=env,
                             cwd=REPO)
        served = sandbox.stats.as_json()["requests_total"]
    print(f"airflow db migrate + DAG parse + shipshape_ingest in the product venv: {time.monotonic() - started:.0f} s")
    lines = [line for line in ran.stdout.splitlines() if line.startswith("RESULT ")]
    assert ran.returncode == 0 and lines, f"{ran.stdout[-3000:]}\n{ran.stderr[-5000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["import_errors"] == {}
    assert {"shipshape_ingest", "shipshape_reconcile"} <= set(result["dags"])
    assert result["state"] == "success", result["tasks"]
    assert served > 0

    with psycopg.connect(fresh_database) as conn:
        counts = {table: conn.execute(f'select count(distinct source_id) from raw."{table}"').fetchone()[0]
                  for (table,) in conn.execute("select table_name from information_schema.tables"
                                               " where table_schema = 'raw' and table_name not like '\\_%'")}
        runs = conn.execute("select count(*) from ops.extraction_runs where run_id = %s",
                            (result["run_id"],)).fetchone()[0]
    assert counts["shopify__orders"] == len(world.shopify_orders)
    assert counts["stripe__charges"] == len(world.stripe_charges)
    assert counts["shiphero__orders"] == len(world.shiphero_orders)
    assert counts["tracking__trackers"] == len(world.trackers)
    assert runs == len(result["tasks"]), "one extraction run recorded per stream task"
