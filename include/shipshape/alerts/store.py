"""Exactly one digest per run: the `ops` tables that remember what each run's digest said and where it went.

    ops.alert_digests     (dag_id, run_id) -> as_of, since, has_news, subject, body_text, body_html
    ops.alert_deliveries  (dag_id, run_id, channel) -> status sending | sent, claimed_at, sent_at

The first attempt of a run records its digest; a retry or a cleared run reuses that record, so every
channel gets the same message and the window of "new" mismatches does not move. A channel is claimed
(`sending`, committed) before the message leaves and marked `sent` after; a failed send releases the claim,
so a retry sends it; a claim left by an attempt that was killed mid-send is not sent again (better one
lost digest than two: the run's page and its log still say what happened). Every run is recorded, with
or without news, because the next run's "new since" starts at the latest recorded as-of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

DDL = """
create schema if not exists ops;
create table if not exists ops.alert_digests (
    dag_id      text not null,
    run_id      text not null,
    as_of       timestamptz,
    since       timestamptz,
    has_news    boolean not null,
    subject     text not null,
    body_text   text not null,
    body_html   text not null,
    recorded_at timestamptz not null default now(),
    primary key (dag_id, run_id)
);
create table if not exists ops.alert_deliveries (
    dag_id     text not null,
    run_id     text not null,
    channel    text not null,
    status     text not null check (status in ('sending', 'sent')),
    claimed_at timestamptz not null default now(),
    sent_at    timestamptz,
    primary key (dag_id, run_id, channel)
);
"""


@dataclass(frozen=True)
class Recorded:
    """A run's digest as first recorded."""

    as_of: datetime | None
    has_news: bool
    subject: str
    text: str
    html: str


def ensure(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('shipshape.alerts.ddl'))")
        conn.execute(DDL)


def previous_as_of(conn: psycopg.Connection, dag_id: str, run_id: str) -> datetime | None:
    """The latest as-of any other run of `dag_id` was digested at (its news has been told)."""
    return conn.execute("select max(as_of) from ops.alert_digests where dag_id = %s and run_id <> %s",
                        (dag_id, run_id)).fetchone()[0]


def recorded(conn: psycopg.Connection, dag_id: str, run_id: str) -> Recorded | None:
    row = conn.execute("select as_of, has_news, subject, body_text, body_html from ops.alert_digests"
                       " where dag_id = %s and run_id = %s", (dag_id, run_id)).fetchone()
    return Recorded(*row) if row else None


def record(conn: psycopg.Connection, dag_id: str, run_id: str, *, as_of: datetime | None, since: datetime | None,
           has_news: bool, subject: str, text: str, html: str) -> Recorded:
    """Record the run's digest unless one is recorded already; returns whichever is recorded."""
    with conn.transaction():
        conn.execute(
            "insert into ops.alert_digests (dag_id, run_id, as_of, since, has_news, subject, body_text, body_html)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (dag_id, run_id) do nothing",
            (dag_id, run_id, as_of, since, has_news, subject, text, html))
    found = recorded(conn, dag_id, run_id)
    assert found is not None
    return found


def claim(conn: psycopg.Connection, dag_id: str, run_id: str, channel: str) -> str | None:
    """Claim the run's delivery on `channel`; None when claimed, else the status found (`sending`: an
    earlier attempt's outcome is unknown; `sent`)."""
    with conn.transaction():
        row = conn.execute(
            "insert into ops.alert_deliveries (dag_id, run_id, channel, status) values (%s, %s, %s, 'sending')"
            " on conflict do nothing returning status", (dag_id, run_id, channel)).fetchone()
    if row:
        return None
    return conn.execute("select status from ops.alert_deliveries where dag_id = %s and run_id = %s and channel = %s",
                        (dag_id, run_id, channel)).fetchone()[0]


def mark_sent(conn: psycopg.Connection, dag_id: str, run_id: str, channel: str) -> None:
    with conn.transaction():
        conn.execute("update ops.alert_deliveries set status = 'sent', sent_at = now()"
                     " where dag_id = %s and run_id = %s and channel = %s", (dag_id, run_id, channel))


def release(conn: psycopg.Connection, dag_id: str, run_id: str, channel: str) -> None:
    """Give a claim back after a send that failed, so the next attempt sends."""
    with conn.transaction():
        conn.execute("delete from ops.alert_deliveries where dag_id = %s and run_id = %s and channel = %s"
                     " and status = 'sending'", (dag_id, run_id, channel))
