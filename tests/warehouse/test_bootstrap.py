"""The bootstrap (shipshape.warehouse.bootstrap, through `up` on a configured connection) against real
PostgreSQL: every schema and shared table, the incremental bookkeeping and the journal of deletions from
raw, idempotent, and no password in what it prints or logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from warehouse_helpers import EXTRACTION_STATE_COLUMNS, QUARANTINE_COLUMNS, columns, schemas

from shipshape import warehouse
from shipshape.ingest.loader import RawLoad
from shipshape.ingest.records import RawRecord
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


# incremental staging's bookkeeping (dbt_project/macros/incremental_staging.sql names it; its on-run-start
# hook refuses a warehouse without it: tests/dbt/test_incremental.py)
BOOKKEEPING = ("ops.dbt_incremental_state", "ops.dbt_model_scope", "ops.dbt_changed_keys", "ops.dbt_change_batches")


def _load(url: str, table: str, source_ids: list[str], run_id: str) -> None:
    """Load versions of `source_ids` into raw.`table` through the loader, as an ingest task does."""
    with psycopg.connect(url, autocommit=True) as conn:
        load = RawLoad(conn, "shopify", table.split("__", 1)[1], table, run_id)
        load.write([RawRecord(i, datetime(2026, 1, 1, tzinfo=UTC), {"id": i, "run": run_id}) for i in source_ids])
        load.commit({}, window_start=None, window_end=datetime(2026, 1, 2, tzinfo=UTC), api_reported_count=None,
                    requests=1, retries=0, started_at=datetime(2026, 1, 2, tzinfo=UTC))


def _journal(url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute("select raw_table, source_id from raw._deletions order by deletion_id").fetchall()


def test_bootstrap_makes_the_bookkeeping_and_the_loader_journals_deletions(fresh_database):
    warehouse.bootstrap(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        missing = [r for r in BOOKKEEPING if conn.execute("select to_regclass(%s)", (r,)).fetchone()[0] is None]
    assert missing == []
    assert columns(fresh_database, "ops", "dbt_incremental_state") == [
        "model", "as_of", "extracted_through", "change_batch", "fingerprint", "deletions_through"]

    # a raw table the loader creates after the bootstrap journals what is deleted from it by hand
    _load(fresh_database, "shopify__orders", ["a", "b", "c"], run_id="first")
    _load(fresh_database, "shopify__orders", ["a"], run_id="second")  # a second version of a
    with psycopg.connect(fresh_database) as conn:
        conn.execute("delete from raw.shopify__orders where source_id = 'a'")
        conn.execute("truncate raw.shopify__orders")
    assert _journal(fresh_database) == [("shopify__orders", "a"), ("shopify__orders", None)]

    warehouse.bootstrap(fresh_database)  # again: nothing doubles, nothing is lost
    with psycopg.connect(fresh_database) as conn:
        triggers = conn.execute("select tgname from pg_trigger where tgrelid = 'raw.shopify__orders'::regclass"
                                " and not tgisinternal order by tgname").fetchall()
    assert triggers == [("journal_deletions",), ("journal_truncates",)]
    assert len(_journal(fresh_database)) == 2


def test_bootstrap_journals_raw_tables_made_before_it(fresh_database):
    """A raw table from before the journal (an older loader, a restored dump) gets its triggers."""
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.stripe__charges (source_id text, payload jsonb)")
        conn.execute("""insert into raw.stripe__charges values ('ch_1', '{}'), ('ch_2', '{}')""")
    warehouse.bootstrap(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        conn.execute("delete from raw.stripe__charges where source_id = 'ch_2'")
    assert _journal(fresh_database) == [("stripe__charges", "ch_2")]


def test_bootstrap_moves_bookkeeping_kept_in_staging(fresh_database):
    """A warehouse from before the bookkeeping lived in ops (it was in staging, without the later
    columns): the bootstrap moves it to ops, rows and all, so the next dbt run stays incremental."""
    with psycopg.connect(fresh_database) as conn:
        conn.execute("create schema staging")
        conn.execute("create table staging.dbt_incremental_state"
                     " (model text primary key, as_of timestamptz not null, extracted_through timestamptz)")
        conn.execute("insert into staging.dbt_incremental_state values ('stg_shopify__orders', '2026-01-01', null)")
        conn.execute("create table staging.dbt_model_scope (model text not null, key text)")
        conn.execute("insert into staging.dbt_model_scope values ('stg_shopify__orders', 'gid://1')")
        conn.execute("create table staging.dbt_changed_keys (log_id bigserial primary key, grain text not null,"
                     " key text)")
        conn.execute("insert into staging.dbt_changed_keys (grain, key) values ('order', '1')")
        conn.execute("create sequence staging.dbt_change_batches")
        conn.execute("select nextval('staging.dbt_change_batches')")
    warehouse.bootstrap(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        left = conn.execute("select count(*) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
                            " where n.nspname = 'staging' and c.relname like 'dbt\\_%'").fetchone()[0]
        state = conn.execute("select model, change_batch, deletions_through from ops.dbt_incremental_state").fetchall()
        scope = conn.execute("select model, key from ops.dbt_model_scope").fetchall()
        log = conn.execute("select grain, key from ops.dbt_changed_keys").fetchall()
        batch = conn.execute("select nextval('ops.dbt_change_batches')").fetchone()[0]
    assert left == 0, "nothing is left in staging"
    assert state == [("stg_shopify__orders", None, None)]
    assert (scope, log, batch) == ([("stg_shopify__orders", "gid://1")], [("order", "1")], 2)


def test_loader_names_the_missing_bootstrap(fresh_database):
    """A warehouse bootstrapped by an older shipshape (no journal function): the load stops and says how
    to bootstrap it, instead of loading a raw table whose deletions nobody journals."""
    warehouse.bootstrap(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        conn.execute("drop function raw._journal_deletions_of(text)")
    with pytest.raises(RuntimeError, match=r"raw\.shopify__orders.*shipshape warehouse up"):
        _load(fresh_database, "shopify__orders", ["a"], run_id="first")
