"""`shipshape.warehouse.url()`, what every task calls: the configured connection, else the embedded
warehouse only when it already runs, else a clear error; it starts nothing and creates nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from warehouse_helpers import schemas

from shipshape import warehouse
from shipshape.warehouse import CONN_ENV, DATA_DIR_ENV

ASK = """
import json, sys
from shipshape import warehouse
try:
    print(json.dumps({"url": warehouse.url()}))
except warehouse.WarehouseNotConfigured as exc:
    print(json.dumps({"error": str(exc), "pgserver": "pgserver" in sys.modules}))
"""


def test_nothing_configured_and_nothing_running_is_a_clear_error_and_starts_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update({DATA_DIR_ENV: str(tmp_path / "data"), "AIRFLOW_HOME": str(tmp_path / "airflow")})
    done = subprocess.run([sys.executable, "-c", ASK], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "url" not in answer, answer
    error = answer["error"]
    assert "'shipshape_warehouse'" in error and CONN_ENV in error, error
    assert "shipshape warehouse up" in error and str(tmp_path / "data" / "warehouse") in error, error
    assert not (tmp_path / "data" / "warehouse").exists(), "no embedded warehouse was initialised"
    assert answer["pgserver"] is False, "the embedded server's machinery was not even loaded"


def test_a_configured_connection_is_returned_as_it_is_without_ddl(fresh_database, monkeypatch):
    monkeypatch.setenv(CONN_ENV, fresh_database)
    assert psycopg.conninfo.conninfo_to_dict(warehouse.url()) == psycopg.conninfo.conninfo_to_dict(fresh_database)
    assert not {"raw", "staging", "marts", "ops"} & schemas(fresh_database), "url() bootstraps nothing"


def test_a_configured_connection_missing_a_field_is_named(monkeypatch):
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "postgres", "host": "db", "login": "ship"}))
    with pytest.raises(ValueError, match=r"'shipshape_warehouse'.*no schema \(the database\)"):
        warehouse.url()
