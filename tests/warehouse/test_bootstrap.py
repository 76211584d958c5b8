"""The bootstrap (shipshape.warehouse.bootstrap, through `up` on a configured connection) against real
PostgreSQL: every schema and shared table, idempotent, and no password in what it prints or logs."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from warehouse_helpers import EXTRACTION_STATE_COLUMNS, QUARANTINE_COLUMNS, columns, schemas

from shipshape import warehouse
from shipshape.warehouse import CONN_ENV


def test_up_with_connection_creates_schemas_and_is_idempotent(fresh_database, monkeypatch):
    monkeypatch.setenv(CONN_ENV, fresh_database)
    assert not {"raw", "ops"} & schemas(fresh_database)

    url = warehouse.up()
    assert conninfo_to_dict(url)["dbname"] == conninfo_to_dict(fresh_database)["dbname"]
    assert set(warehouse.SCHEMAS) <= schemas(fresh_database)
    assert columns(fresh_database, "raw", "_quarantine") == QUARANTINE_COLUMNS
    assert columns(fresh_database, "ops", "extraction_state") == EXTRACTION_STATE_COLUMNS

    with psycopg.connect(fresh_database) as conn:
        conn.execute(
            "insert into ops.extraction_state (source, stream, cursor) values ('shopify', 'orders', '{}')"
        )
        conn.execute("insert into raw._quarantine (source, stream, reason) values ('stripe', 'charges', 'x')")

    assert warehouse.up() == url  # a second run changes nothing and loses nothing
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select count(*) from ops.extraction_state").fetchone()[0] == 1
        assert conn.execute("select count(*) from raw._quarantine").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into ops.extraction_state (source, stream) values ('shopify', 'orders')")


def test_up_with_json_connection(fresh_database, monkeypatch):
    parts = conninfo_to_dict(fresh_database)
    conn = {
        "conn_type": "postgres",
        "host": parts["host"],
        "port": int(parts.get("port", 5432)),
        "login": parts["user"],
        "password": "not-checked-by-trust-auth",
        "schema": parts["dbname"],
        "extra": {"application_name": "shipshape-test"},
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    url = warehouse.up()
    with psycopg.connect(url) as c:
        name, app = c.execute("select current_database(), current_setting('application_name')").fetchone()
    assert (name, app) == (parts["dbname"], "shipshape-test")
    assert set(warehouse.SCHEMAS) <= schemas(fresh_database)


def test_status_and_logs_never_show_the_password(fresh_database, monkeypatch, caplog):
    parts = conninfo_to_dict(fresh_database)
    secret = "s3cr3t-p@ss"
    monkeypatch.setenv(
        CONN_ENV,
        json.dumps({"conn_type": "postgres", "host": parts["host"], "port": parts.get("port"),
                    "login": parts["user"], "password": secret, "schema": parts["dbname"]}),
    )  # fmt: skip
    caplog.set_level("DEBUG", logger="shipshape")
    warehouse.up()
    info = warehouse.status()
    assert info["mode"] == "connection"
    assert info["reachable"] is True and info["missing_schemas"] == []
    assert secret not in json.dumps(info) and "***" in info["url"]
    assert secret not in caplog.text
    assert "not managed here" in warehouse.down()
