"""The console's connections to the warehouse: always as its own role, read-only by default, every query
parametrised. Reads return a DataFrame, or None when the relation they read does not exist yet (no gate
or push has run on a new warehouse); the one write is a quarantine acknowledgement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import psycopg
from psycopg import errors

# every session: read-only unless a transaction says otherwise, no JIT (the project's queries are many and
# mid-sized; compiling costs more than it saves), and no query may hold a page for long
SESSION_OPTIONS = "-c default_transaction_read_only=on -c jit=off -c statement_timeout=20000"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="shipshape_console",
                           options=SESSION_OPTIONS)


def read(url: str, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> pd.DataFrame | None:
    """Rows of ``sql`` with ``params`` bound by the driver; None when a relation it reads is missing."""
    try:
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            columns = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)
    except errors.UndefinedTable:
        return None


def acknowledge(url: str, quarantine_id: int, who: str, note: str | None) -> dict[str, Any]:
    """Record that ``who`` accepted the quarantined record ``quarantine_id`` (ops.acknowledge_quarantine,
    which checks the record exists); returns the acknowledgement. The first acknowledgement of a record
    stands."""
    with connect(url) as conn, conn.transaction():
        conn.execute("set transaction read write")
        cur = conn.execute("select quarantine_id, acknowledged_by, acknowledged_at, note"
                           " from ops.acknowledge_quarantine(%s, %s, %s)", (quarantine_id, who, note))
        row = cur.fetchone()
        return dict(zip([c.name for c in cur.description], row, strict=True))
