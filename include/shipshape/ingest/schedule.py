"""When `shipshape_ingest` runs: a cron expression from the setting SHIPSHAPE_INGEST_SCHEDULE (hourly by
default). A live sandbox at `--speed 60` does an hour's store activity per minute; `* * * * *` then lets a
person watch a run a minute. Read at DAG parse time: no imports beyond the standard library."""

from __future__ import annotations

import os
from collections.abc import Mapping

SCHEDULE_ENV = "SHIPSHAPE_INGEST_SCHEDULE"
DEFAULT_SCHEDULE = "0 * * * *"


def ingest_schedule(env: Mapping[str, str] | None = None) -> str:
    """The ingest DAG's cron expression (five fields)."""
    value = ((os.environ if env is None else env).get(SCHEDULE_ENV) or DEFAULT_SCHEDULE).strip()
    if len(value.split()) != 5:
        raise ValueError(f"{SCHEDULE_ENV}={value!r}: give a cron expression of five fields, e.g. '0 * * * *'")
    return value
