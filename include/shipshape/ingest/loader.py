"""Writes raw rows into Postgres: page by page into a spool file on local disk while the stream is read,
then, at commit, one COPY into a temporary table and one merge into `raw.<source>__<stream>`, the
quarantine and the stream's cursor, all in one short transaction.

The rows wait on disk, not in the database, so that no transaction stays open while the API is read: an
open transaction that has written (even to a temporary table) holds back what vacuum may remove in the
whole database. A full-history load of a busy account reads for an hour; meanwhile every request
updates its rate-limit bucket row (`ops.rate_buckets`), and with the load's transaction open none of
those row versions could be pruned: each update walked all the earlier ones, and a million-order load
slowed down quadratically (600 000 PayPal tracker requests).

The raw table contract (also in the README):

| column | meaning |
|---|---|
| `source_id` | the record's id in its system |
| `source_updated_at` | the record's own update time (what incremental windows select on) |
| `payload` | the record exactly as the API returned it (jsonb) |
| `payload_hash` | md5 of the payload's canonical jsonb text |
| `extracted_at` | when this version was first extracted |
| `run_id` | the Airflow run that first extracted this version |

Primary key `(source_id, payload_hash)`: a version of a record is stored once, however many runs or
overlapping windows see it, and every distinct version is kept. `staging` picks the latest version per
`source_id` (by `source_updated_at`, then `extracted_at`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from shipshape.ingest.records import RawRecord

RAW_TABLE_DDL = """
create table if not exists raw.{table} (
    source_id text not null,
    source_updated_at timestamptz,
    payload jsonb not null,
    payload_hash text not null,
    extracted_at timestamptz not null,
    run_id text not null,
    primary key (source_id, payload_hash)
);
create index if not exists {updated_index} on raw.{table} (source_updated_at);
create index if not exists {extracted_index} on raw.{table} (extracted_at);
create index if not exists {run_index} on raw.{table} (run_id);
"""

OPS_DDL = """
create unique index if not exists _quarantine_once
    on raw._quarantine (source, stream, coalesce(record_id, ''), reason, md5(payload::text));
create table if not exists ops.extraction_runs (
    run_id text not null,
    source text not null,
    stream text not null,
    window_start timestamptz,
    window_end timestamptz not null,
    fetched integer not null,
    inserted integer not null,
    quarantined integer not null,
    api_reported_count integer,
    requests integer not null,
    retries integer not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    primary key (run_id, source, stream)
);
-- Distinct records the run received (loaded or quarantined): what the API's own count is compared with
-- (a page that repeats a record counts in `fetched` twice).
alter table ops.extraction_runs add column if not exists records_received integer;
"""


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


@dataclass
class LoadCounts:
    fetched: int = 0
    inserted: int = 0
    quarantined: int = 0
    received: int = 0  # distinct records, loaded or quarantined


class RawLoad:
    """One stream's load, spooled on disk; nothing reaches the database until `commit`.

    `conn` is in autocommit mode: the DDL and the merge are transactions of their own, and the streams'
    reads of the warehouse in between (PayPal's captures to ask trackers for) leave none open. Even a
    read-only transaction left idle keeps a snapshot, which holds back vacuum as an xid does.
    """

    def __init__(self, conn: psycopg.Connection, source: str, stream: str, table: str, run_id: str) -> None:
        self.conn = conn
        self.source, self.stream, self.table, self.run_id = source, stream, table, run_id
        self.counts = LoadCounts()
        self.extracted_at = datetime.now(UTC)
        with conn.transaction(), conn.cursor() as cur:
            # DDL first, each statement idempotent; concurrent tasks of other streams create other tables.
            cur.execute(sql.SQL(RAW_TABLE_DDL).format(
                table=sql.Identifier(table), updated_index=sql.Identifier(f"{table}__updated"),
                extracted_index=sql.Identifier(f"{table}__extracted"),
                # the raw gate reads the versions of the ingest runs it judges: without this index each of
                # its checks scanned the whole table (17 s of an hourly gate at 100 000 orders)
                run_index=sql.Identifier(f"{table}__run")))
            self._journal_deletions(cur, table)
            cur.execute("select pg_advisory_xact_lock(hashtext('shipshape.ops_ddl'))")
            cur.execute(OPS_DDL)
        self._spool = tempfile.TemporaryFile(prefix=f"shipshape-{table}-")  # COPY text lines
        self._quarantined: list[tuple[str | None, str, str, str]] = []

    @staticmethod
    def _journal_deletions(cur: psycopg.Cursor, table: str) -> None:
        """Install the triggers that journal deletions from the raw table (incremental staging reads the
        journal); the warehouse bootstrap defines them, once."""
        try:
            cur.execute("select raw._journal_deletions_of(%s)", (table,))
        except psycopg.errors.UndefinedFunction as exc:
            raise RuntimeError(
                f"loading raw.{table}: the warehouse lacks raw._journal_deletions_of(), which its bootstrap "
                "defines. Bootstrap it with this version of shipshape: `shipshape warehouse up` (make "
                "warehouse-up); `make up` and docker compose's airflow-init do it too."
            ) from exc

    def write(self, rows: list[RawRecord]) -> None:
        self._spool.writelines(
            _copy_line(row.source_id, None if row.source_updated_at is None else row.source_updated_at.isoformat(),
                       dumps(row.payload))
            for row in rows)

    def quarantine(self, record_id: str | None, field: str, reason: str, payload: Any) -> None:
        self.counts.quarantined += 1
        self._quarantined.append((record_id, field, reason, json.dumps(payload, ensure_ascii=False, default=str)))

    def close(self) -> None:
        """Drop the spool (a load that is not committed is forgotten)."""
        self._spool.close()

    def commit(self, state: dict[str, Any], *, window_start: datetime | None, window_end: datetime,
               api_reported_count: int | None, requests: int, retries: int, started_at: datetime) -> LoadCounts:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # payload is jsonb here so COPY parses each document once; the merge only hashes its text.
            cur.execute("create temp table _load (source_id text, source_updated_at timestamptz, payload jsonb)"
                        " on commit drop")
            cur.execute("create temp table _quarantined (record_id text, field text, reason text, payload text)"
                        " on commit drop")
            self._spool.seek(0)
            with cur.copy("copy _load (source_id, source_updated_at, payload) from stdin") as copy:
                while chunk := self._spool.read(_SPOOL_CHUNK):
                    copy.write(chunk)
            self.close()
            if self._quarantined:
                cur.executemany("insert into _quarantined values (%s, %s, %s, %s)", self._quarantined)
            cur.execute(sql.SQL(
                "insert into raw.{table} (source_id, source_updated_at, payload, payload_hash, extracted_at, run_id) "
                "select source_id, source_updated_at, payload, md5(payload::text), %s, %s from _load "
                "on conflict (source_id, payload_hash) do nothing"
            ).format(table=sql.Identifier(self.table)), (self.extracted_at, self.run_id))
            self.counts.inserted = cur.rowcount
            cur.execute(
                "insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id) "
                "select %s, %s, record_id, field, reason, payload::jsonb, %s from _quarantined "
                "on conflict do nothing",
                (self.source, self.stream, self.run_id),
            )
            cur.execute(
                "insert into ops.extraction_state (source, stream, cursor, last_run_id, updated_at) "
                "values (%s, %s, %s, %s, now()) on conflict (source, stream) do update set "
                "cursor = excluded.cursor, last_run_id = excluded.last_run_id, updated_at = excluded.updated_at",
                (self.source, self.stream, json.dumps(state, default=str), self.run_id),
            )
            # A quarantined record may have no id: its payload then tells it apart.
            cur.execute("select (select count(distinct source_id) from _load)"
                        " + (select count(distinct coalesce(record_id, md5(payload))) from _quarantined)")
            self.counts.received = cur.fetchone()[0]
            cur.execute(
                "insert into ops.extraction_runs (run_id, source, stream, window_start, window_end, fetched, "
                "inserted, quarantined, api_reported_count, requests, retries, started_at, finished_at, "
                "records_received) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), %s) "
                "on conflict (run_id, source, stream) do update set window_start = excluded.window_start, "
                "window_end = excluded.window_end, fetched = excluded.fetched, inserted = excluded.inserted, "
                "quarantined = excluded.quarantined, api_reported_count = excluded.api_reported_count, "
                "requests = excluded.requests, retries = excluded.retries, started_at = excluded.started_at, "
                "finished_at = excluded.finished_at, records_received = excluded.records_received",
                (self.run_id, self.source, self.stream, window_start, window_end, self.counts.fetched,
                 self.counts.inserted, self.counts.quarantined, api_reported_count, requests, retries, started_at,
                 self.counts.received),
            )
        return self.counts


_SPOOL_CHUNK = 1 << 20
# COPY's text format: these characters are written as backslash escapes, a null as \N
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(*values: str | None) -> bytes:
    """One row in COPY's text format."""
    return ("\t".join("\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values) + "\n").encode()


def read_state(conn: psycopg.Connection, source: str, stream: str) -> dict[str, Any] | None:
    with conn.cursor() as cur:
        cur.execute("select cursor from ops.extraction_state where source = %s and stream = %s", (source, stream))
        row = cur.fetchone()
    conn.rollback()  # leave no transaction open (when `conn` is not in autocommit mode)
    return row[0] if row else None
