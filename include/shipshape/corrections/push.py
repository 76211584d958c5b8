"""`push_corrections`: the last task of shipshape_reconcile. Reads the plan, records it in the outbox,
decides whether to apply, guards against an oversized plan, and applies each due action through its
target's writer, recording every attempt.

Whether it applies (first rule that answers wins):

1. the run's `apply` argument (the DAG param), when given: True applies, False is a dry run;
2. the deployment setting `SHIPSHAPE_APPLY_CORRECTIONS` (true/false) in the environment;
3. otherwise it applies only when every target connection the plan needs is the local sandbox
   (`writers.is_sandbox`: extra `"sandbox": true` and a loopback host); anything else is a dry run.

A dry run sends nothing at all: the plan is recorded as `planned` and logged (counts per target and
action, and before → after samples). The circuit breaker refuses to apply a plan with more actions
to send than max(50, 5 % of the orders in marts.fct_order_reconciliation): those actions are recorded
as `refused` and `CircuitBreakerTripped` is raised, unless the run overrides it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from shipshape.connections import Connection, get_connection
from shipshape.corrections import outbox
from shipshape.corrections.plan import Action, breaker_limit, describe, orders_in_scope, read_plan
from shipshape.corrections.writers import (
    CONNECTION_IDS,
    WriteError,
    Writer,
    WriterOptions,
    guard_host,
    is_sandbox,
    open_writer,
)
from shipshape.ingest.http import ApiError, RetryPolicy
from shipshape.secrets import redact

log = logging.getLogger(__name__)

APPLY_ENV = "SHIPSHAPE_APPLY_CORRECTIONS"
LOCK_KEY = 0x5348_4950_5348  # one push at a time per warehouse (pg advisory lock)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class CircuitBreakerTripped(RuntimeError):
    """The plan is too large to apply without a human looking at it."""

    def __init__(self, message: str, summary: PushSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class PushSettings:
    retry_base: timedelta = timedelta(minutes=5)  # a failed action waits this long, doubling per failure
    retry_cap: timedelta = timedelta(hours=6)
    breaker_min_actions: int = 50
    breaker_share: float = 0.05
    sample: int = 3  # before -> after examples per action kind in the logged plan
    http_retry: RetryPolicy | None = None  # the clients' own retry policy (None: their default)
    checked_attempts: int = 3
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None


@dataclass
class PushSummary:
    run_id: str
    mode: str  # apply | dry_run
    reason: str
    plan_actions: int = 0
    already_done: int = 0  # keys applied or skipped by earlier runs: not sent again
    pending: int = 0  # actions not done yet
    due: int = 0  # pending actions whose backoff has passed
    waiting: int = 0  # failed actions still backing off
    orders_in_scope: int = 0
    breaker_limit: int = 0
    refused: bool = False
    outcomes: Counter = field(default_factory=Counter)  # status -> actions, this run
    by_action: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[dict[str, str]] = field(default_factory=list)
    synced: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.outcomes["applied"] + self.outcomes["failed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "mode": self.mode, "reason": self.reason, "plan_actions": self.plan_actions,
            "already_done": self.already_done, "pending": self.pending, "due": self.due, "waiting": self.waiting,
            "orders_in_scope": self.orders_in_scope, "breaker_limit": self.breaker_limit, "refused": self.refused,
            "outcomes": dict(self.outcomes), "by_action": {k: dict(v) for k, v in self.by_action.items()},
            "failures": self.failures[:50], "synced": self.synced,
        }


def _flag(value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{APPLY_ENV}={value!r}: use true or false")


def apply_decision(apply: bool | None, connections: Mapping[str, Connection | None]) -> tuple[bool, str]:
    """(apply?, why) by the rules in the module docstring; `connections` maps target -> its connection."""
    if apply is not None:
        return bool(apply), f"run parameter apply={bool(apply)}"
    setting = _flag(os.environ.get(APPLY_ENV))
    if setting is not None:
        return setting, f"deployment setting {APPLY_ENV}={str(setting).lower()}"
    if connections and all(c is not None and is_sandbox(c) for c in connections.values()):
        return True, "every target connection is the local sandbox"
    return False, ("dry run: the default for real endpoints (apply with the run parameter apply=True or "
                   f"{APPLY_ENV}=true)")


def _connections(targets: set[str], given: Mapping[str, Connection] | None) -> dict[str, Connection | None]:
    """target -> connection (None when it cannot be read: that target's actions fail, the rest go on)."""
    out: dict[str, Connection | None] = {}
    for target in sorted(targets):
        conn_id = CONNECTION_IDS.get(target)
        if conn_id is None:
            out[target] = None
            continue
        if given is not None:
            out[target] = given.get(conn_id)
            continue
        try:
            out[target] = get_connection(conn_id)
        except (LookupError, ValueError) as exc:
            log.warning("corrections: %s", exc)
            out[target] = None
    return out


def push_corrections(
    warehouse_url: str,
    *,
    run_id: str,
    apply: bool | None = None,
    override_circuit_breaker: bool = False,
    connections: Mapping[str, Connection] | None = None,
    settings: PushSettings | None = None,
) -> PushSummary:
    """Push `marts.correction_plan` (see the module docstring). `connections` (conn_id -> Connection)
    replaces the Airflow lookup, for tests and the CLI. Raises `CircuitBreakerTripped` on a refused plan;
    failed actions do not raise (they are logged and retried by later runs)."""
    settings = settings or PushSettings()
    with psycopg.connect(warehouse_url, autocommit=True) as db:
        if not db.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            raise RuntimeError("another push_corrections holds the warehouse's push lock; not pushing twice at once")
        try:
            return _push(db, run_id, apply, override_circuit_breaker, connections, settings)
        finally:
            db.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


def _push(db: psycopg.Connection, run_id: str, apply: bool | None, override: bool,
          given: Mapping[str, Connection] | None, settings: PushSettings) -> PushSummary:
    outbox.ensure(db)
    actions = read_plan(db)
    with db.transaction():
        synced = outbox.sync(db, actions, run_id)
    state = outbox.statuses(db, [a.idempotency_key for a in actions])
    now = datetime.now(UTC)
    pending = [a for a in actions if state[a.idempotency_key][0] not in outbox.DONE]
    due = [a for a in pending if state[a.idempotency_key][0] != "failed"
           or state[a.idempotency_key][1] is None or state[a.idempotency_key][1] <= now]
    conns = _connections({a.target_system for a in pending}, given)
    do_apply, reason = apply_decision(apply, conns)
    if do_apply and any(a.action == "inventory_set_available" for a in due) and "shiphero" not in conns:
        # the inventory writer reads ShipHero's live stock (the system that is right) at write time
        conns.update(_connections({"shiphero"}, given))
    summary = PushSummary(run_id=run_id, mode="apply" if do_apply else "dry_run", reason=reason,
                          plan_actions=len(actions), already_done=len(actions) - len(pending), pending=len(pending),
                          due=len(due), waiting=len(pending) - len(due), synced=synced)
    log.info("push_corrections %s: %s; %d action(s) in the plan, %d already applied or skipped by earlier runs,"
             " %d pending (%d due, %d failed and backing off)", run_id, reason, len(actions), summary.already_done,
             len(pending), len(due), summary.waiting)
    title = "correction plan (dry run: nothing is sent)" if not do_apply else "correction plan (applying)"
    log.info("%s", describe(pending, sample=settings.sample, title=title))
    if not do_apply:
        summary.outcomes["planned"] = len(pending)
        return summary

    summary.orders_in_scope = orders_in_scope(db)
    summary.breaker_limit = breaker_limit(summary.orders_in_scope, minimum=settings.breaker_min_actions,
                                          share=settings.breaker_share)
    if len(pending) > summary.breaker_limit:
        message = (f"circuit breaker: {len(pending)} actions to apply exceed the limit of {summary.breaker_limit}"
                   f" (max({settings.breaker_min_actions}, {settings.breaker_share:.0%} of "
                   f"{summary.orders_in_scope} orders in scope)); a plan this large usually means a bug upstream")
        if not override:
            outbox.mark_refused(db, [a.idempotency_key for a in pending], run_id, message)
            summary.refused = True
            summary.outcomes["refused"] = len(pending)
            log.error("%s. Nothing was sent; the actions are recorded as refused in %s. Inspect the plan, then"
                      " rerun with override_circuit_breaker=True to apply it.", message, outbox.TABLE)
            raise CircuitBreakerTripped(message + ": refused (override_circuit_breaker=True applies it)", summary)
        log.warning("%s; applying anyway: the run overrides the breaker", message)

    _apply(db, due, conns, run_id, settings, summary)
    log.info("push_corrections %s done: %s", run_id,
             ", ".join(f"{n} {status}" for status, n in sorted(summary.outcomes.items())) or "nothing to send")
    for failure in summary.failures[:20]:
        log.warning("failed (retried by a later run): %s: %s", failure["action_id"], failure["error"])
    return summary


def _apply(db: psycopg.Connection, due: list[Action], conns: Mapping[str, Connection | None], run_id: str,
           settings: PushSettings, summary: PushSummary) -> None:
    by_target: dict[str, list[Action]] = defaultdict(list)
    for a in due:
        by_target[a.target_system].append(a)
    options = WriterOptions(retry=settings.http_retry, transport=settings.transport,
                            checked_attempts=settings.checked_attempts, sleep=settings.sleep,
                            connections=dict(conns))
    for target, actions in sorted(by_target.items()):
        conn = conns.get(target)
        writer: Writer | None = None
        problem: str | None = None
        if conn is None:
            problem = f"no usable connection {CONNECTION_IDS.get(target, target)!r} for target {target}"
        else:
            try:
                writer = open_writer(target, conn, options)
                guard_host(writer.client, conn)  # type: ignore[attr-defined]
            except Exception as exc:  # a bad connection fails its own target's actions, not the run
                problem = f"could not open the {target} writer: {exc}"
        log.info("%s: %d action(s) to send", target, len(actions))
        try:
            for a in actions:
                _one(db, writer, problem, a, run_id, settings, summary)
        finally:
            if writer is not None:
                writer.close()


def _one(db: psycopg.Connection, writer: Writer | None, problem: str | None, a: Action, run_id: str,
         settings: PushSettings, summary: PushSummary) -> None:
    now = datetime.now(UTC)
    attempt = outbox.mark_sending(db, a.idempotency_key, run_id, now)
    kind = f"{a.target_system}.{a.action}"
    try:
        if writer is None:
            raise WriteError(problem or "no writer")
        outcome = writer.apply(a)
    except Exception as exc:  # any failure is recorded against this action and the push goes on
        response = exc.response if isinstance(exc, WriteError) else exc.body if isinstance(exc, ApiError) else None
        error = redact(f"{type(exc).__name__}: {exc}")
        retry_at = datetime.now(UTC) + outbox.backoff(attempt, base=settings.retry_base, cap=settings.retry_cap)
        outbox.mark_failed(db, a.idempotency_key, error, response, retry_at)
        summary.outcomes["failed"] += 1
        summary.by_action[kind]["failed"] += 1
        summary.failures.append({"action_id": a.action_id, "idempotency_key": a.idempotency_key, "error": error[:500]})
        log.warning("%s %s: failed on attempt %d (%s); next attempt after %s", kind, a.label, attempt, error[:300],
                    retry_at.isoformat(timespec="seconds"))
        return
    outbox.mark_done(db, a.idempotency_key, outcome.status, outcome.detail, outcome.response, datetime.now(UTC))
    summary.outcomes[outcome.status] += 1
    summary.by_action[kind][outcome.status] += 1
    log.info("%s %s: %s (%s)", kind, a.label, outcome.status, outcome.detail)
