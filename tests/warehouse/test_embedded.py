"""The embedded warehouse (shipshape.warehouse.embedded): started by one process, reused by the next,
stopped with its data kept; `url()` finds it while it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from warehouse_helpers import QUARANTINE_COLUMNS, answers, columns, schemas

from shipshape import warehouse
from shipshape.warehouse import CONN_ENV, DATA_DIR_ENV, PORT_ENV


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)
    monkeypatch.delenv(PORT_ENV, raising=False)


def test_embedded_lifecycle(tmp_path, monkeypatch, no_connection):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(PORT_ENV, "0")  # any free port: leave a developer's warehouse on 55432 alone
    pgdata = tmp_path / "warehouse"
    try:
        # Started by a process that then exits: the server must outlive it.
        child = subprocess.run(
            [sys.executable, "-m", "shipshape.warehouse", "up"],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == 0, child.stderr
        assert (pgdata / "PG_VERSION").exists()
        before = warehouse.status()
        assert before["mode"] == "embedded" and before["running"] is True
        assert before["reachable"] is True and before["missing_schemas"] == []

        assert warehouse.url() == warehouse.up()  # a task finds the running server; up reuses it
        url = warehouse.up()
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/shipshape")
        assert warehouse.status()["pid"] == before["pid"]
        assert set(warehouse.SCHEMAS) <= schemas(url)
        assert columns(url, "raw", "_quarantine") == QUARANTINE_COLUMNS
        assert answers(before["socket_url"])  # the unix socket works too
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into ops.extraction_state (source, stream) values ('paypal', 'transactions')"
            )

        assert "stopped" in warehouse.down()
        assert not answers(url)
        assert warehouse.status()["running"] is False
        with pytest.raises(warehouse.WarehouseNotConfigured):
            warehouse.url()  # stopped: a task is told, nothing restarts it
        assert not answers(url)
        assert "no embedded warehouse running" in warehouse.down()

        assert warehouse.up() == url  # same port again, and the data survived the restart
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from ops.extraction_state").fetchone()[0] == 1
    finally:
        warehouse.stop_embedded(pgdata)
    assert not answers(url)


def test_embedded_data_dir_default_and_override(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert warehouse.embedded_data_dir() == warehouse.project_root() / ".data" / "warehouse"
    monkeypatch.setenv(DATA_DIR_ENV, "/srv/shipshape")
    assert str(warehouse.embedded_data_dir()) == "/srv/shipshape/warehouse"
    assert str(warehouse.embedded_data_dir("/x/pg")) == "/x/pg"
