"""shipshape.warehouse against real PostgreSQL: the configured server and the embedded one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from shipshape import warehouse
from shipshape.warehouse import CONN_ENV, DATA_DIR_ENV, PORT_ENV, mask_url, resolve_url

QUARANTINE_COLUMNS = [
    "id",
    "source",
    "stream",
    "record_id",
    "field",
    "reason",
    "payload",
    "run_id",
    "quarantined_at",
]
EXTRACTION_STATE_COLUMNS = ["source", "stream", "cursor", "last_run_id", "updated_at"]


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select schema_name from information_schema.schemata").fetchall()
    return {r[0] for r in rows}


def columns(url: str, schema: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, table],
        ).fetchall()
    return [r[0] for r in rows]


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)
    monkeypatch.delenv(PORT_ENV, raising=False)


# --------------------------------------------------------------------------- configured connection


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


# --------------------------------------------------------------------------- embedded server


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

        url = warehouse.up()  # reuses the running server
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


# --------------------------------------------------------------------------- parsing and masking


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgres://ship:p%40ss%2Fw%3Ard@db.example.com:5433/wh",
            {"user": "ship", "password": "p@ss/w:rd", "host": "db.example.com", "port": "5433", "dbname": "wh"},
        ),
        (
            "postgresql://ship@db.example.com/wh?sslmode=require&cursor=realdictcursor",
            {"user": "ship", "host": "db.example.com", "dbname": "wh", "sslmode": "require"},
        ),
        (
            "postgres://ship@DB.Example.com:5432/wh?__extra__=%7B%22sslmode%22%3A+%22verify-full%22%7D",
            {"user": "ship", "host": "DB.Example.com", "port": "5432", "dbname": "wh", "sslmode": "verify-full"},
        ),
        (
            "postgres://postgres@%2Ftmp%2Fpg%20sock:55432/shipshape",
            {"user": "postgres", "host": "/tmp/pg sock", "port": "55432", "dbname": "shipshape"},
        ),
        (
            json.dumps({"conn_type": "postgres", "host": "wh", "login": "ship", "password": "a b@c:d/e?f",
                        "port": 5432, "schema": "shipshape", "extra": {"sslmode": "disable", "iam": True}}),
            {"user": "ship", "password": "a b@c:d/e?f", "host": "wh", "port": "5432", "dbname": "shipshape",
             "sslmode": "disable"},
        ),
        (
            json.dumps({"conn_type": "postgres", "host": "wh", "login": "ship", "schema": "shipshape",
                        "extra": json.dumps({"connect_timeout": 7})}),
            {"user": "ship", "host": "wh", "dbname": "shipshape", "connect_timeout": "7"},
        ),
    ],
    ids=["uri-encoded-password", "uri-libpq-extras-only", "uri-__extra__", "uri-socket-dir", "json", "json-str-extra"],
)  # fmt: skip
def test_resolve_url_forms(raw, expected):
    url = resolve_url({CONN_ENV: raw})
    assert url.startswith("postgresql://")
    assert conninfo_to_dict(url) == expected


def test_resolve_url_unset_and_wrong_type():
    assert resolve_url({}) is None
    assert resolve_url({CONN_ENV: "  "}) is None
    with pytest.raises(ValueError, match="postgres"):
        resolve_url({CONN_ENV: "mysql://u:p@h/db"})
    with pytest.raises(ValueError, match="postgres"):
        resolve_url({CONN_ENV: json.dumps({"conn_type": "http", "host": "h"})})


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://ship:hunter2@db:5432/wh", "postgresql://ship:***@db:5432/wh"),
        ("postgres://ship:p%40ss@db/wh?sslmode=require", "postgres://ship:***@db/wh?sslmode=require"),
        ("postgresql://ship@db/wh", "postgresql://ship@db/wh"),
        ("postgresql://ship:@db/wh", "postgresql://ship:@db/wh"),
        ("postgresql://db/wh?user=ship&password=hunter2&sslmode=require",
         "postgresql://db/wh?user=ship&password=***&sslmode=require"),
        ("host=db user=ship password=hunter2 dbname=wh", "host=db user=ship password=*** dbname=wh"),
        ("host=db password='hun ter2' dbname=wh", "host=db password=*** dbname=wh"),
        ('{"conn_type": "postgres", "password": "hun\\"ter2", "host": "db"}',
         '{"conn_type": "postgres", "password": "***", "host": "db"}'),
        ("", ""),
    ],
)  # fmt: skip
def test_mask_url(url, masked):
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url) and "hun ter2" not in mask_url(url)
