"""The gate's `ops` tables: one row per gate run, one per expectation evaluated, the mismatch-rate history.

    ops.quality_runs         (run_id, suite) -> as_of, success, evaluated, failed, data_docs, started/finished
    ops.quality_results      (run_id, suite, expectation) -> asset, expectation_type, success,
                             observed_value (jsonb), details (jsonb), as_of, checked_at
    ops.quality_mismatch_rates  run_id -> as_of, orders, mismatched, mismatch_rate, recorded_at

A rerun of the same Airflow run (a retry) replaces its own rows, so the tables hold one answer per run.
Also here: which ingest runs a raw gate judges (those since the last raw gate that passed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

OPS_DDL = """
create schema if not exists ops;
create table if not exists ops.quality_runs (
    run_id      text not null,
    suite       text not null,
    as_of       timestamptz not null,
    success     boolean not null,
    evaluated   integer not null,
    failed      integer not null,
    data_docs   text,
    started_at  timestamptz not null,
    finished_at timestamptz not null,
    primary key (run_id, suite)
);
create index if not exists quality_runs_suite_as_of on ops.quality_runs (suite, as_of);
create table if not exists ops.quality_results (
    run_id           text not null,
    suite            text not null,
    expectation      text not null,
    asset            text not null,
    expectation_type text not null,
    success          boolean not null,
    observed_value   jsonb,
    details          jsonb,
    as_of            timestamptz not null,
    checked_at       timestamptz not null,
    primary key (run_id, suite, expectation)
);
create table if not exists ops.quality_mismatch_rates (
    run_id        text primary key,
    as_of         timestamptz not null,
    orders        integer not null,
    mismatched    integer not null,
    mismatch_rate double precision,
    recorded_at   timestamptz not null default now()
);
-- Reads text the APIs sent as a timestamp without failing the whole query on one bad value.
create or replace function ops.try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
begin
    return nullif(value, '')::timestamptz;
exception when others then
    return null;
end $$;
create or replace function ops.try_numeric(value text) returns numeric
language plpgsql immutable as $$
begin
    return nullif(trim(value), '')::numeric;
exception when others then
    return null;
end $$;
"""


def ensure_tables(conn: psycopg.Connection) -> None:
    """Create the gate's ops tables and helper functions, idempotently (serialised: concurrent DDL collides)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('shipshape.quality.ddl'))")
        conn.execute(OPS_DDL)


def last_passing_as_of(conn: psycopg.Connection, suite: str, *, before: datetime, run_id: str) -> datetime | None:
    """The as-of of the latest passing gate of ``suite`` strictly before ``before`` (other runs only)."""
    row = conn.execute(
        "select max(as_of) from ops.quality_runs where suite = %s and success and as_of < %s and run_id <> %s",
        (suite, before, run_id),
    ).fetchone()
    return row[0] if row else None


def mismatch_history(conn: psycopg.Connection, *, before: datetime, run_id: str, window: int) -> list[float]:
    """The mismatch rates of up to ``window`` earlier runs (as-of before ``before``), newest first."""
    rows = conn.execute(
        "select mismatch_rate from ops.quality_mismatch_rates where as_of < %s and run_id <> %s"
        " and mismatch_rate is not null order by as_of desc limit %s",
        (before, run_id, window),
    ).fetchall()
    return [float(r[0]) for r in rows]


def record_mismatch_rate(conn: psycopg.Connection, *, run_id: str, as_of: datetime) -> tuple[int, int]:
    """Store this run's mismatch rate from marts.fct_order_reconciliation; returns (orders, mismatched)."""
    orders, mismatched = conn.execute(
        "select count(*), count(*) filter (where cardinality(mismatch_codes) > 0)"
        " from marts.fct_order_reconciliation"
    ).fetchone()
    conn.execute(
        "insert into ops.quality_mismatch_rates (run_id, as_of, orders, mismatched, mismatch_rate)"
        " values (%s, %s, %s, %s, %s) on conflict (run_id) do update set as_of = excluded.as_of,"
        " orders = excluded.orders, mismatched = excluded.mismatched, mismatch_rate = excluded.mismatch_rate,"
        " recorded_at = now()",
        (run_id, as_of, orders, mismatched, (mismatched / orders) if orders else None),
    )
    return orders, mismatched


def save_results(conn: psycopg.Connection, *, run_id: str, suite: str, as_of: datetime, success: bool,
                 results: Sequence[dict[str, Any]], data_docs: str | None, started_at: datetime,
                 finished_at: datetime) -> None:
    """Replace this run's rows for ``suite`` with ``results`` (dicts as :class:`ExpectationOutcome`)."""
    with conn.transaction():
        conn.execute("delete from ops.quality_results where run_id = %s and suite = %s", (run_id, suite))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into ops.quality_results (run_id, suite, expectation, asset, expectation_type, success,"
                " observed_value, details, as_of, checked_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(run_id, suite, r["expectation"], r["asset"], r["expectation_type"], r["success"],
                  Jsonb(r["observed_value"]), Jsonb(r["details"]), as_of, finished_at) for r in results],
            )
        conn.execute(
            "insert into ops.quality_runs values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (run_id, suite) do update set as_of = excluded.as_of, success = excluded.success,"
            " evaluated = excluded.evaluated, failed = excluded.failed, data_docs = excluded.data_docs,"
            " started_at = excluded.started_at, finished_at = excluded.finished_at",
            (run_id, suite, as_of, success, len(results), sum(1 for r in results if not r["success"]),
             data_docs, started_at, finished_at),
        )
