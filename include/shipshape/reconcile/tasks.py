"""What `shipshape_reconcile`'s own tasks call (dbt runs through Cosmos): the quality gates, the
corrections push and the alerts, against the warehouse of the `shipshape_warehouse` connection (or the
embedded one, when it runs): `shipshape.warehouse.url()`, which starts and bootstraps nothing.

All of them judge at the run's one as-of (`shipshape.reconcile.as_of`), resolved by the DAG's first task.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shipshape import warehouse
from shipshape.reconcile import as_of as as_of_rule

log = logging.getLogger(__name__)


def resolve_as_of(dag_run: Any, data_interval_end: datetime | None) -> str:
    """The run's as-of as ISO text (the `as_of` task's XCom), by the rule of `shipshape.reconcile.as_of`."""
    events = [(getattr(e.asset, "uri", None), e.extra) for e in getattr(dag_run, "consumed_asset_events", None) or ()]
    moment, why = as_of_rule.resolve(asset_events=events, data_interval_end=data_interval_end,
                                     run_after=getattr(dag_run, "run_after", None), warehouse_url=warehouse.url())
    log.info("run %s (%s) judges as of %s: %s", getattr(dag_run, "run_id", "?"), getattr(dag_run, "run_type", "?"),
             moment.isoformat(), why)
    return moment.isoformat()


def quality_gate(suite: str, *, as_of: datetime, run_id: str) -> dict[str, Any]:
    """Run one Great Expectations suite (`raw` or `marts`); raises QualityGateFailed on any failure, so
    the task fails and push_corrections does not run."""
    from shipshape.quality import run_gate

    result = run_gate(suite, warehouse.url(), as_of=as_of, run_id=run_id)
    log.info("%s", result.summary())
    return {"suite": suite, "success": result.success, "evaluated": len(result.outcomes),
            "data_docs": str(result.data_docs_index) if result.data_docs_index else None}


class PlanOfAnotherRun(RuntimeError):
    """The marts were rebuilt at another as-of after this run's gate passed: their plan is not this run's."""


def marts_as_of(url: str) -> set[datetime]:
    """The as-ofs the plan and the order mart were built at (one, when a single run built them)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute(
            "select as_of from marts.correction_plan union select as_of from marts.fct_order_reconciliation")}


def push_corrections(*, run_id: str, as_of: datetime, apply: str | bool | None,
                     override_circuit_breaker: bool) -> dict[str, Any]:
    """Send marts.correction_plan through the outbox (dry run unless applying is switched on; see
    shipshape.corrections.push); raises CircuitBreakerTripped on an oversized plan, and PlanOfAnotherRun
    when the marts were built at another as-of than the run's (what the gate passed is not what is there)."""
    from shipshape.corrections.push import push_corrections as push
    from shipshape.reconcile.params import apply_choice

    url = warehouse.url()
    built = marts_as_of(url)
    if built - {as_of}:
        raise PlanOfAnotherRun(
            f"run {run_id} judges as of {as_of.isoformat()}, but marts.correction_plan and "
            f"marts.fct_order_reconciliation were built as of {', '.join(sorted(b.isoformat() for b in built))}: "
            "another run rebuilt them; nothing is pushed (clear this run's dbt tasks to rebuild them)")
    summary = push(url, run_id=run_id, apply=apply_choice(apply), override_circuit_breaker=override_circuit_breaker)
    return summary.as_dict()


def send_alerts(context: Any) -> dict[str, Any]:
    """The run's digest through Airflow's notifier (`shipshape.alerts.notify.DigestNotifier`): sent once per
    run on each configured channel when something needs a person; nothing when nothing does."""
    from shipshape.alerts.notify import DigestNotifier

    notifier = DigestNotifier()
    notifier(context)
    return notifier.outcome.as_dict() if notifier.outcome else {}
