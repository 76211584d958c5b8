"""What the warehouse tests share: reading a database's schemas and columns, and whether a URL answers."""

from __future__ import annotations

import psycopg

QUARANTINE_COLUMNS = [
    "id",
    "source",
    "stream",
    "record_id",
    "field",
    "reason",
    "payload",
    "run_id",
    "quarantined_at",
]
EXTRACTION_STATE_COLUMNS = ["source", "stream", "cursor", "last_run_id", "updated_at"]


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select schema_name from information_schema.schemata").fetchall()
    return {r[0] for r in rows}


def columns(url: str, schema: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, table],
        ).fetchall()
    return [r[0] for r in rows]


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True
