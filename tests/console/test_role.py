"""The console's role (shipshape.warehouse.CONSOLE_ROLE, made by the warehouse bootstrap) reads the marts,
the ops tables and the quarantine, and cannot write anything: not in a read-only session (its default),
and not in a read-write one either (no privilege). Its one write, a quarantine acknowledgement, goes
through ops.acknowledge_quarantine, which names a record that does not exist."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from shipshape import warehouse
from shipshape.console import db
from shipshape.console.settings import console_role_url


@pytest.fixture
def bootstrapped(fresh_database: str) -> str:
    warehouse.bootstrap(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:  # as dbt would, after the bootstrap
        conn.execute("create table marts.fct_example (id int primary key)")
        conn.execute("insert into marts.fct_example values (1)")
        conn.execute("insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id)"
                     " values ('stripe', 'charges', 'ch_1', 'currency', 'unknown currency', '{}', 'run-1')")
    return fresh_database


WRITES = [
    "insert into marts.fct_example values (2)",
    "update marts.fct_example set id = 3",
    "delete from marts.fct_example",
    "truncate marts.fct_example",
    "delete from raw._quarantine",
    "insert into ops.quarantine_acknowledgements (quarantine_id, acknowledged_by) values (1, 'me')",
    "update ops.extraction_state set cursor = null",
    "create table marts.mine (id int)",
    "drop table marts.fct_example",
]


def test_console_role_reads(bootstrapped: str) -> None:
    url = console_role_url(bootstrapped)
    assert db.read(url, "select current_user as who")["who"][0] == warehouse.CONSOLE_ROLE
    assert db.read(url, "select count(*) as n from marts.fct_example")["n"][0] == 1
    assert db.read(url, "select count(*) as n from raw._quarantine")["n"][0] == 1
    assert db.read(url, "select count(*) as n from ops.extraction_state")["n"][0] == 0


@pytest.mark.parametrize("statement", WRITES)
def test_console_role_cannot_write(bootstrapped: str, statement: str) -> None:
    url = console_role_url(bootstrapped)
    with db.connect(url) as conn, pytest.raises(errors.ReadOnlySqlTransaction):
        conn.execute(statement)  # the console's sessions are read-only
    with psycopg.connect(url) as conn, pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
        conn.execute("set transaction read write")  # and without that, the role has no privilege to write
        conn.execute(statement)
    with psycopg.connect(bootstrapped) as owner:
        assert owner.execute("select count(*) from marts.fct_example").fetchone()[0] == 1
        assert owner.execute("select count(*) from raw._quarantine").fetchone()[0] == 1


def test_acknowledge_through_the_function_only(bootstrapped: str) -> None:
    url = console_role_url(bootstrapped)
    with psycopg.connect(bootstrapped) as owner:
        (record,) = owner.execute("select id from raw._quarantine").fetchone()
    done = db.acknowledge(url, record, "  Ana Ops ", "seen")
    assert (done["quarantine_id"], done["acknowledged_by"], done["note"]) == (record, "Ana Ops", "seen")
    again = db.acknowledge(url, record, "Someone Else", None)
    assert again["acknowledged_by"] == "Ana Ops"  # the first acknowledgement stands
    with pytest.raises(psycopg.Error, match=f"raw._quarantine has no record with id {record + 100}"):
        db.acknowledge(url, record + 100, "Ana Ops", None)
    with pytest.raises(psycopg.Error, match="acknowledged_by is empty"):
        db.acknowledge(url, record, " ", None)
