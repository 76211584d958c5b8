"""What `shipshape_reconcile`'s own tasks call (dbt runs through Cosmos): the quality gates and the
corrections push, against the warehouse of the `shipshape_warehouse` connection (or the embedded one).

Both judge the run at the same as-of as its dbt models: the data interval end, or for a run Airflow
gives no interval (an Asset-triggered one), the moment it was due.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shipshape import warehouse

log = logging.getLogger(__name__)


def run_as_of(data_interval_end: datetime | None, run_after: datetime | None) -> datetime:
    """The as-of of a run: its data interval end, else its run_after (the same rule as the dbt vars)."""
    as_of = data_interval_end or run_after
    if as_of is None:
        raise ValueError("the run has neither a data interval end nor a run_after: nothing to judge as of")
    return as_of


def quality_gate(suite: str, *, as_of: datetime, run_id: str) -> dict[str, Any]:
    """Run one Great Expectations suite (`raw` or `marts`); raises QualityGateFailed on any failure, so
    the task fails and push_corrections does not run."""
    from shipshape.quality import run_gate

    result = run_gate(suite, warehouse.up(), as_of=as_of, run_id=run_id)
    log.info("%s", result.summary())
    return {"suite": suite, "success": result.success, "evaluated": len(result.outcomes),
            "data_docs": str(result.data_docs_index) if result.data_docs_index else None}


def push_corrections(*, run_id: str, apply: bool | None, override_circuit_breaker: bool) -> dict[str, Any]:
    """Send marts.correction_plan through the outbox (dry run unless applying is switched on; see
    shipshape.corrections.push); raises CircuitBreakerTripped on an oversized plan."""
    from shipshape.corrections.push import push_corrections as push

    summary = push(warehouse.up(), run_id=run_id, apply=apply, override_circuit_breaker=override_circuit_breaker)
    return summary.as_dict()
