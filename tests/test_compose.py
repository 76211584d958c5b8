"""docker-compose.yaml stays in step with `make up` (no Docker engine here, so it is read, not run): the
same settings, the same schedule, a Postgres metadata database, no example DAGs, DAGs unpaused, and a
live sandbox started by a command the sandbox's CLI accepts, writing the connections Airflow reads; and the
Airflow services carry the product only (the sandbox's package is mounted into the sandbox service alone)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

from shipshape.ingest.schedule import DEFAULT_SCHEDULE, SCHEDULE_ENV
from shipshape_sandbox.cli import parser

REPO = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_airflow_runs_with_the_settings_make_up_gives_it():
    from shipshape.airflow_runtime import AirflowDeployment

    env = compose()["x-airflow-common"]["environment"]
    mine = AirflowDeployment("/tmp/unused-home", "postgresql://x@127.0.0.1/airflow").airflow_settings()
    for key in ("AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"):
        assert str(env[key]).lower() == mine[key].lower(), key
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), "Postgres metadata, as make up"
    assert env[SCHEDULE_ENV] == "${SHIPSHAPE_INGEST_SCHEDULE:-" + DEFAULT_SCHEDULE + "}"
    assert "SHIPSHAPE_APPLY_CORRECTIONS" in env and "SHIPSHAPE_DATA_DOCS_DIR" in env
    path = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])["connections_file_path"]
    assert env["AIRFLOW__SECRETS__BACKEND"].endswith("LocalFilesystemBackend")

    sandbox = compose()["services"]["sandbox"]
    argv = shlex.split(sandbox["command"][-1].replace("$${", "${"))
    assert argv[:4] == ["exec", "python", "-m", "shipshape_sandbox"]
    args = parser().parse_args([a if not a.startswith("${") else "1" for a in argv[4:]])
    assert args.func.__name__ == "cmd_sandbox_serve"
    assert args.live and str(args.connections_file) == path and args.advertise_url == "http://sandbox:8765"
    assert args.state is not None and str(args.state).startswith("/opt/airflow/.data/")
    for service in ("airflow-apiserver", "airflow-scheduler", "airflow-worker", "airflow-triggerer"):
        assert compose()["services"][service]["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_the_warehouse_is_bootstrapped_before_any_task_runs():
    """Tasks only look the warehouse up (shipshape.warehouse.url), so the deployment bootstraps it: the
    init service, which every Airflow service waits for, runs `python -m shipshape.warehouse up` once the
    warehouse answers."""
    services = compose()["services"]
    init = services["airflow-init"]
    assert "/entrypoint python -m shipshape.warehouse up" in init["command"][-1]
    assert init["depends_on"]["warehouse"]["condition"] == "service_healthy"
    for service in ("airflow-scheduler", "airflow-worker", "airflow-triggerer"):
        assert "airflow-init" in services[service]["depends_on"], service


def test_the_airflow_services_carry_the_product_only():
    common = compose()["x-airflow-common"]["volumes"]
    mounted = {volume.removeprefix("${AIRFLOW_PROJ_DIR:-.}/").split(":")[0] for volume in common}
    assert "include/shipshape" in mounted
    assert not any(m == "include" or m.startswith("include/shipshape_sandbox") for m in mounted), mounted
    sandbox = compose()["services"]["sandbox"]
    assert any(v.endswith("include/shipshape_sandbox:/opt/airflow/include/shipshape_sandbox")
               for v in sandbox["volumes"])
    for name, service in compose()["services"].items():
        if name != "sandbox" and "volumes" in service:
            assert not any("shipshape_sandbox" in v for v in service["volumes"]), name
