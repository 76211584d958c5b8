"""`ops.correction_log`: the outbox of the push, one row per idempotency key.

Every planned action is recorded before anything is sent, and updated after each attempt, so the log
always says what was planned, sent, applied, skipped, failed or refused, and why. Statuses:

* `planned`    recorded, not sent (yet): a dry run, or an apply about to send it
* `applied`    the target changed (or a read after an uncertain answer showed it had)
* `skipped`    the target already agreed (read before write), nothing sent; terminal like applied
* `failed`     the attempt failed; `error` says why, `next_attempt_at` when a later run retries it
* `refused`    the circuit breaker refused the run that would have sent it
* `superseded` still pending when the plan stopped asking for it (fixed elsewhere, or re-planned with a
               different payload, hence a different key)

A key that is `applied` or `skipped` is never sent again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from shipshape.corrections.plan import Action
from shipshape.secrets import redact

TABLE = "ops.correction_log"
DONE = ("applied", "skipped")
PENDING = ("planned", "failed", "refused", "superseded")
MAX_RESPONSE_CHARS = 20_000
MAX_ERROR_CHARS = 4_000

DDL = f"""
create schema if not exists ops;
create table if not exists {TABLE} (
    idempotency_key text primary key,
    action_id text not null,
    target text not null,
    action text not null,
    api_operation text,
    payload jsonb not null,
    codes text[] not null,
    shopify_order_id bigint,
    order_name text,
    sku text,
    status text not null
        check (status in ('planned', 'applied', 'skipped', 'failed', 'refused', 'superseded')),
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    response jsonb,
    detail text,
    error text,
    run_id text,
    first_run_id text,
    planned_at timestamptz not null default now(),
    last_attempted_at timestamptz,
    applied_at timestamptz,
    updated_at timestamptz not null default now()
);
create index if not exists correction_log_status_idx on {TABLE} (status, next_attempt_at);
create index if not exists correction_log_action_idx on {TABLE} (action_id);
"""


def ensure(conn: psycopg.Connection) -> None:
    conn.execute(DDL)


def clean_json(value: Any) -> Jsonb | None:
    """A response body fit for the log: secrets masked, size bounded."""
    if value is None:
        return None
    text = redact(json.dumps(value, default=str, ensure_ascii=False))
    if len(text) > MAX_RESPONSE_CHARS:
        return Jsonb({"truncated": text[:MAX_RESPONSE_CHARS]})
    return Jsonb(json.loads(text))


def clean_text(value: str | None, limit: int = MAX_ERROR_CHARS) -> str | None:
    return None if value is None else redact(value)[:limit]


def sync(conn: psycopg.Connection, actions: Iterable[Action], run_id: str) -> dict[str, int]:
    """Record the plan: new keys as `planned`; pending keys the plan still asks for back to `planned`
    (refused or superseded earlier), failed ones kept as they are (their backoff holds); pending keys the
    plan no longer asks for become `superseded`. Returns counts of what changed."""
    actions = list(actions)
    keys = [a.idempotency_key for a in actions]
    inserted = 0
    with conn.cursor() as cur:
        for a in actions:
            cur.execute(
                f"insert into {TABLE} (idempotency_key, action_id, target, action, api_operation, payload, codes,"
                " shopify_order_id, order_name, sku, status, run_id, first_run_id)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'planned', %s, %s)"
                " on conflict (idempotency_key) do nothing",
                (a.idempotency_key, a.action_id, a.target_system, a.action, a.api_operation, Jsonb(a.payload),
                 list(a.mismatch_codes), a.shopify_order_id, a.order_name, a.sku, run_id, run_id),
            )
            inserted += cur.rowcount
        cur.execute(
            f"update {TABLE} set status = 'planned', run_id = %s, updated_at = now()"
            " where idempotency_key = any(%s) and status in ('refused', 'superseded')",
            (run_id, keys),
        )
        replanned = cur.rowcount
        cur.execute(
            f"update {TABLE} set status = 'superseded', run_id = %s, updated_at = now(),"
            " detail = 'no longer in the plan'"
            " where not (idempotency_key = any(%s)) and status in ('planned', 'failed', 'refused')",
            (run_id, keys),
        )
        superseded = cur.rowcount
    return {"new": inserted, "replanned": replanned, "superseded": superseded}


def statuses(conn: psycopg.Connection, keys: list[str]) -> dict[str, tuple[str, datetime | None, int]]:
    """key -> (status, next_attempt_at, attempts) for the given keys."""
    rows = conn.execute(f"select idempotency_key, status, next_attempt_at, attempts from {TABLE}"
                        " where idempotency_key = any(%s)", (keys,)).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def mark_refused(conn: psycopg.Connection, keys: list[str], run_id: str, reason: str) -> int:
    cur = conn.execute(
        f"update {TABLE} set status = 'refused', run_id = %s, detail = %s, updated_at = now()"
        " where idempotency_key = any(%s) and status not in ('applied', 'skipped')",
        (run_id, clean_text(reason), keys),
    )
    return cur.rowcount


def mark_sending(conn: psycopg.Connection, key: str, run_id: str, now: datetime) -> int:
    """Count the attempt before the request leaves; returns the attempt number."""
    row = conn.execute(
        f"update {TABLE} set attempts = attempts + 1, last_attempted_at = %s, run_id = %s, updated_at = now()"
        " where idempotency_key = %s returning attempts",
        (now, run_id, key),
    ).fetchone()
    return int(row[0])


def mark_done(conn: psycopg.Connection, key: str, status: str, detail: str | None, response: Any,
              now: datetime) -> None:
    conn.execute(
        f"update {TABLE} set status = %s, detail = %s, response = %s, error = null, next_attempt_at = null,"
        " applied_at = case when %s = 'applied' then %s else applied_at end, updated_at = now()"
        " where idempotency_key = %s",
        (status, clean_text(detail), clean_json(response), status, now, key),
    )


def mark_failed(conn: psycopg.Connection, key: str, error: str, response: Any, retry_at: datetime) -> None:
    conn.execute(
        f"update {TABLE} set status = 'failed', error = %s, response = %s, next_attempt_at = %s,"
        " updated_at = now() where idempotency_key = %s",
        (clean_text(error), clean_json(response), retry_at, key),
    )


def backoff(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential: base after the first failure, doubling each time, capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))
