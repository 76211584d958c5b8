"""A reconcile run's alert digest, built from the warehouse: what needs a person after this run.

Three things, each read from where the pipeline already records it:

* **new high-severity mismatches**: episodes of `marts.mismatch_history` with severity `high` (the model
  states which codes are high, from SPEC.md) first seen after the previous digested run's as-of and up
  to this run's as-of, still open at it. The first digest of a deployment counts every open one.
* **corrections that failed or were refused** in this run: `ops.correction_log` rows whose latest
  attempt (or the circuit breaker's refusal) was this run's;
* **a failed gate**: `ops.quality_runs` rows of this run that did not pass, with their first failed
  expectations from `ops.quality_results`;

plus the run's failed tasks, when the caller knows them (a dbt model that failed stops the marts gate
from running at all). The digest is short (counts and the top few items) and carries links to the
console at the run's as-of, the Data Docs and the run, when those are known. It never holds a secret:
it reads no connection, and its text goes through `shipshape.secrets.redact` besides.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from shipshape import links
from shipshape.secrets import redact

TOP = 5  # items listed per section; the counts cover the rest
ATTENTION_STATUSES = ("failed", "refused")  # the outbox statuses (shipshape.corrections.outbox) a person must see
MAX_REASON_CHARS = 160


@dataclass(frozen=True)
class Mismatch:
    code: str
    entity_type: str
    entity: str  # the order name, or the payment / SKU id
    currency: str | None
    amount_at_risk: float | None

    def line(self) -> str:
        money = (f" ({self.currency} {self.amount_at_risk:,.2f} at risk)"
                 if self.amount_at_risk and self.currency else "")
        return f"{self.entity} {self.code}{money}"


@dataclass(frozen=True)
class Correction:
    status: str
    target: str
    action: str
    subject: str  # the order name or SKU it acts on
    reason: str

    def line(self) -> str:
        return f"{self.status}: {self.target} {self.action} {self.subject}: {self.reason}".strip()


@dataclass(frozen=True)
class GateFailure:
    suite: str
    failed: int
    evaluated: int
    expectations: tuple[str, ...]  # the first few failed ones, with their observed values

    def line(self) -> str:
        first = "; ".join(self.expectations)
        return f"{self.suite} gate: {self.failed} of {self.evaluated} expectations failed" + (f" ({first})" if first else "")


@dataclass(frozen=True)
class Digest:
    dag_id: str
    run_id: str
    as_of: datetime | None
    since: datetime | None  # the previous digested run's as-of (None: the first digest)
    new_high: tuple[Mismatch, ...] = ()
    new_high_total: int = 0
    new_high_by_code: Mapping[str, int] = field(default_factory=dict)
    corrections: tuple[Correction, ...] = ()
    corrections_by_status: Mapping[str, int] = field(default_factory=dict)
    gates: tuple[GateFailure, ...] = ()
    failed_tasks: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_news(self) -> bool:
        """Whether a person needs to hear about this run."""
        return bool(self.new_high_total or sum(self.corrections_by_status.values()) or self.gates
                    or self.failed_tasks)

    def headline(self) -> list[str]:
        parts = []
        if self.new_high_total:
            parts.append(f"{self.new_high_total} new high-severity mismatch{'es' if self.new_high_total != 1 else ''}")
        for status in ATTENTION_STATUSES:
            if self.corrections_by_status.get(status):
                count = self.corrections_by_status[status]
                parts.append(f"{count} correction{'s' if count != 1 else ''} {status}")
        if self.gates:
            parts.append(f"quality gate failed ({', '.join(g.suite for g in self.gates)})")
        if self.failed_tasks:
            parts.append(f"{len(self.failed_tasks)} task{'s' if len(self.failed_tasks) != 1 else ''} failed")
        return parts

    @property
    def subject(self) -> str:
        return redact(f"shipshape: {', '.join(self.headline()) or 'nothing new'} ({self.dag_id} {self.run_id})")

    def sections(self) -> list[tuple[str, list[str]]]:
        """(heading, lines) per thing to say, in the order a person should read them."""
        out: list[tuple[str, list[str]]] = []
        if self.gates:
            out.append(("Quality gate failed: nothing was pushed", [g.line() for g in self.gates]))
        if self.new_high_total:
            since = f" since {links.iso(self.since)}" if self.since else ""
            by_code = ", ".join(f"{code} {n}" for code, n in sorted(self.new_high_by_code.items(),
                                                                    key=lambda kv: (-kv[1], kv[0])))
            lines = [by_code, *(m.line() for m in self.new_high)]
            if self.new_high_total > len(self.new_high):
                lines.append(f"… and {self.new_high_total - len(self.new_high)} more")
            out.append((f"{self.new_high_total} new high-severity mismatches{since}", lines))
        total = sum(self.corrections_by_status.values())
        if total:
            counts = ", ".join(f"{n} {s}" for s, n in self.corrections_by_status.items() if n)
            lines = [c.line() for c in self.corrections]
            if total > len(self.corrections):
                lines.append(f"… and {total - len(self.corrections)} more (ops.correction_log)")
            out.append((f"Corrections that need a look: {counts}", lines))
        if self.failed_tasks:
            lines = list(self.failed_tasks[:TOP])
            if len(self.failed_tasks) > TOP:
                lines.append(f"… and {len(self.failed_tasks) - TOP} more")
            out.append(("Failed tasks", lines))
        return out

    def _title(self) -> str:
        when = f", as of {links.iso(self.as_of)}" if self.as_of else ""
        return f"{self.dag_id} run {self.run_id}{when}"

    def text(self) -> str:
        """Plain text (the Slack message, the e-mail's alternative)."""
        lines = [self._title()]
        for heading, items in self.sections():
            lines.append(f"• {heading}")
            lines += [f"    {item}" for item in items]
        lines += [f"{name}: {url}" for name, url in self.links.items()]
        return redact("\n".join(lines))

    def html(self) -> str:
        """The e-mail body."""
        e = html.escape
        parts = [f"<p><b>{e(self._title())}</b></p>"]
        for heading, items in self.sections():
            parts.append(f"<p>{e(heading)}</p><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
        if self.links:
            parts.append("<p>" + " · ".join(f'<a href="{e(url)}">{e(name)}</a>' for name, url in self.links.items())
                         + "</p>")
        return redact("".join(parts))


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _short(value: Any, limit: int = MAX_REASON_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_high_mismatches(conn: psycopg.Connection, *, as_of: datetime, since: datetime | None
                        ) -> tuple[list[Mismatch], int, dict[str, int]]:
    """The top new high-severity episodes in (since, as_of], still open at as_of; their total; per code."""
    if not _exists(conn, "marts.mismatch_history"):
        return [], 0, {}
    rows = conn.execute(
        "select code, entity_type, coalesce(order_name, entity_id), currency, amount_at_risk"
        " from marts.mismatch_history where severity = 'high' and first_seen_at <= %(as_of)s"
        " and (%(since)s::timestamptz is null or first_seen_at > %(since)s)"
        " and (resolved_at is null or resolved_at > %(as_of)s)"
        " order by amount_at_risk desc nulls last, code, entity_id",
        {"as_of": as_of, "since": since}).fetchall()
    items = [Mismatch(code, kind, entity, currency, float(amount) if amount is not None else None)
             for code, kind, entity, currency, amount in rows]
    return items[:TOP], len(items), dict(Counter(m.code for m in items))


def attention_corrections(conn: psycopg.Connection, run_id: str) -> tuple[list[Correction], dict[str, int]]:
    """This run's failed and refused actions (top few, refused first: a refusal stopped the whole push)."""
    if not _exists(conn, "ops.correction_log"):
        return [], {}
    rows = conn.execute(
        "select status, target, action, coalesce(order_name, sku, ''), coalesce(error, detail, '')"
        " from ops.correction_log where run_id = %s and status = any(%s)"
        " order by array_position(%s, status) desc, action_id",
        (run_id, list(ATTENTION_STATUSES), list(ATTENTION_STATUSES))).fetchall()
    counts = {status: sum(1 for r in rows if r[0] == status) for status in ATTENTION_STATUSES}
    return [Correction(s, t, a, subj, _short(reason)) for s, t, a, subj, reason in rows[:TOP]], counts


def failed_gates(conn: psycopg.Connection, run_id: str) -> list[GateFailure]:
    """The gate suites of this run that did not pass, with their first failed expectations."""
    if not _exists(conn, "ops.quality_runs"):
        return []
    gates = []
    for suite, evaluated, failed in conn.execute(
            "select suite, evaluated, failed from ops.quality_runs where run_id = %s and not success order by suite",
            (run_id,)).fetchall():
        expectations = tuple(
            f"{name}: observed {_short(observed, 60)}" for name, observed in conn.execute(
                "select expectation, observed_value from ops.quality_results where run_id = %s and suite = %s"
                " and not success order by expectation limit 3", (run_id, suite)).fetchall())
        gates.append(GateFailure(suite, failed, evaluated, expectations))
    return gates


def build_digest(conn: psycopg.Connection, *, dag_id: str, run_id: str, as_of: datetime | None,
                 since: datetime | None, failed_tasks: Iterable[str] = (),
                 env: Mapping[str, str] | None = None) -> Digest:
    """The digest of one run. `as_of` None (the run failed before resolving it) leaves out the mismatches,
    which are judged at an as-of; `since` is the previous digested run's as-of (`shipshape.alerts.store`)."""
    new, total, by_code = new_high_mismatches(conn, as_of=as_of, since=since) if as_of else ([], 0, {})
    corrections, by_status = attention_corrections(conn, run_id)
    found = {
        "Console": links.console_at(as_of, env) if as_of else links.console_at(None, env),
        "Data Docs": links.data_docs_url(env),
        "Run": links.run_url(dag_id, run_id, env),
    }
    return Digest(dag_id=dag_id, run_id=run_id, as_of=as_of, since=since, new_high=tuple(new), new_high_total=total,
                  new_high_by_code=by_code, corrections=tuple(corrections), corrections_by_status=by_status,
                  gates=tuple(failed_gates(conn, run_id)), failed_tasks=tuple(sorted(failed_tasks)),
                  links={name: url for name, url in found.items() if url})
