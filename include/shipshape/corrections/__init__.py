"""Corrections (reverse ETL): read `marts.correction_plan`, record it in the `ops.correction_log` outbox,
and apply it through a writer per target system, exactly once per idempotency key. See `push`."""

from shipshape.corrections.push import CircuitBreakerTripped, PushSettings, PushSummary, push_corrections

__all__ = ["CircuitBreakerTripped", "PushSettings", "PushSummary", "push_corrections"]
