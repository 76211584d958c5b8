"""`shipshape up` / `shipshape down` as a person runs them: `up` in the foreground of one process, `down`
from another. `up` writes `.data/up.json` with what a person or a script needs, the UI answers with both
DAGs parsed and unpaused, the mismatch console answers at `console_url` (Airflow is told it), and `down`
leaves no process behind (Airflow's, its LocalExecutor workers', the sandbox's, the console's). A second `up` keeps the data: the sandbox resumes the world it kept and Airflow its metadata.
A port already in use stops `up` with a message naming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from shipshape import warehouse
from shipshape.airflow_runtime import free_port, processes_of
from shipshape.warehouse import mask_url

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_airflow_at_a_time")]

KEYS = {"airflow_url", "airflow_username", "airflow_password", "sandbox_url", "warehouse_url", "console_url",
        "webhooks_url"}


def start_up(data: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shipshape.cli", "up", "--orders", "100"], env=env,
                            stdout=(data / "up.out").open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_up(proc: subprocess.Popen, data: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"shipshape up exited with {proc.returncode}:\n{(data / 'up.out').read_text()[-4000:]}")
        if (data / "up.json").exists():
            return json.loads((data / "up.json").read_text())
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    pytest.fail(f"shipshape up did not come up in {timeout:.0f} s:\n{(data / 'up.out').read_text()[-4000:]}")


def down(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "shipshape.cli", "down"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def test_up_then_down_from_another_shell_leaves_nothing_and_a_second_up_resumes(new_database, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    warehouse_url, metadata = new_database("shipshape_up"), new_database("shipshape_up_airflow")
    env = {**os.environ, "SHIPSHAPE_DATA_DIR": str(data), "AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE": warehouse_url,
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata, "SHIPSHAPE_AIRFLOW_PORT": str(free_port()),
           "SHIPSHAPE_SANDBOX_PORT": str(free_port()), "SHIPSHAPE_CONSOLE_PORT": str(free_port())}
    started = time.monotonic()
    proc = start_up(data, env)
    info = wait_up(proc, data)
    print(f"\nshipshape up answered in {time.monotonic() - started:.1f} s")
    assert KEYS <= set(info) and info["webhooks_url"] is None
    assert info["console_url"] == f"http://127.0.0.1:{env['SHIPSHAPE_CONSOLE_PORT']}"
    assert httpx.get(f"{info['console_url']}/_stcore/health", timeout=10).status_code == 200
    assert info["airflow_url"] == f"http://127.0.0.1:{env['SHIPSHAPE_AIRFLOW_PORT']}"
    assert info["warehouse_url"] == mask_url(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:  # bootstrapped here: the DAGs' tasks only look it up
        present = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
        assert set(warehouse.SCHEMAS) <= present, present
        assert conn.execute("select to_regclass('raw._quarantine')").fetchone()[0] is not None
    token = httpx.post(f"{info['airflow_url']}/auth/token", timeout=30,
                       json={"username": info["airflow_username"], "password": info["airflow_password"]})
    assert token.status_code in (200, 201), token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    dags = httpx.get(f"{info['airflow_url']}/api/v2/dags", headers=headers, timeout=30).json()["dags"]
    assert {(d["dag_id"], d["is_paused"]) for d in dags} == {("shipshape_ingest", False),
                                                              ("shipshape_reconcile", False)}
    assert httpx.get(f"{info['sandbox_url']}/_sandbox/health", timeout=10).json()["live"] == {"speed": 1}
    assert httpx.get(f"{info['airflow_url']}/api/v2/dags", timeout=30).status_code == 401, "a login is needed"
    home = Path(info["airflow_home"])
    assert processes_of(home), "Airflow runs under the home up.json names"

    print(down(env))
    assert proc.wait(timeout=60) == 0
    assert not processes_of(home), processes_of(home)
    assert not alive(info["sandbox_pid"]) and not alive(info["console_pid"]) and not (data / "up.json").exists()
    assert (data / "sandbox" / "world.pickle").exists(), "the sandbox kept its world"

    proc = start_up(data, env)  # again: the same data, the same password, the world resumed
    again = wait_up(proc, data)
    try:
        assert again["airflow_password"] == info["airflow_password"]
        assert "loaded the world kept in" in (data / "sandbox" / "sandbox.log").read_text()
    finally:
        down(env)
        proc.wait(timeout=60)
    assert not processes_of(home)


def test_a_port_in_use_stops_up_naming_it(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "SHIPSHAPE_DATA_DIR": str(tmp_path), "SHIPSHAPE_AIRFLOW_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "shipshape.cli", "up"], env=env, capture_output=True,
                                text=True, timeout=120)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use (set SHIPSHAPE_AIRFLOW_PORT" in result.stderr, result.stderr
