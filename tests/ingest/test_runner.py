"""The ingest runner against a real Postgres, with an in-memory stream: loads are idempotent, a failure
halfway leaves nothing behind, bad records are quarantined with their field and reason, and a run with
too many bad records loads nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import psycopg
import pytest

from shipshape import warehouse
from shipshape.connections import Connection, parse
from shipshape.ingest.records import RawRecord, check_amount, parse_timestamp, require_id
from shipshape.ingest.runner import QuarantineExceeded, run_stream
from shipshape.ingest.stream import ExtractContext, Stream
from shipshape.secrets import register_secret

END = datetime(2026, 11, 1, 12, tzinfo=UTC)
START = datetime(2026, 11, 1, 11, tzinfo=UTC)


class ToyClient:
    requests = 0
    retries = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class ToyStream(Stream):
    source, name, conn_id = "toy", "things", "toy_default"

    def __init__(self, pages, fail_after: int | None = None):
        self._pages, self.fail_after = pages, fail_after

    def open_client(self, conn, transport=None):
        return ToyClient()

    def pages(self, ctx: ExtractContext):
        for n, page in enumerate(self._pages):
            if self.fail_after is not None and n == self.fail_after:
                raise ConnectionError("the API went away halfway")
            ctx.client.requests += 1
            yield page
        ctx.new_state = {"through": ctx.window.end.isoformat()}

    def to_raw(self, record):
        check_amount(record, "amount")
        return RawRecord(require_id(record, "id"), parse_timestamp(record.get("updated"), "updated"), record)


def thing(i: int, amount: int = 100, updated: str = "2026-11-01T11:30:00Z", **extra):
    return {"id": f"t{i}", "amount": amount, "updated": updated, **extra}


PAGES = [[thing(1), thing(2)], [thing(2), thing(3)], [thing(4)]]  # t2 repeats across a page boundary
CONN = Connection("toy_default", host="toy.example", password="toy-secret-value")


def run(url, stream, **kw):
    return run_stream(stream, warehouse_url=url, interval_start=START, interval_end=END, run_id=kw.pop("run_id", "r1"),
                      connection=CONN, **kw)


def rows(url, sql, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def db(fresh_database):
    warehouse.bootstrap(fresh_database)
    return fresh_database


def test_load_is_idempotent_and_keeps_each_version_once(db):
    first = run(db, ToyStream(PAGES))
    assert (first.fetched, first.inserted, first.quarantined) == (5, 4, 0)
    before = rows(db, "select source_id, payload, extracted_at, run_id from raw.toy__things order by 1")
    second = run(db, ToyStream(PAGES), run_id="r2")
    assert second.inserted == 0
    assert rows(db, "select source_id, payload, extracted_at, run_id from raw.toy__things order by 1") == before
    # A changed record is a new version; the old one stays.
    run(db, ToyStream([[thing(1, amount=250, updated="2026-11-01T11:50:00Z")]]), run_id="r3")
    assert rows(db, "select source_id, count(*) from raw.toy__things group by 1 order by 1") == [
        ("t1", 2), ("t2", 1), ("t3", 1), ("t4", 1)]
    state = rows(db, "select cursor, last_run_id from ops.extraction_state where source = 'toy'")
    assert state == [({"through": END.isoformat()}, "r3")]
    runs = rows(db, "select run_id, fetched, inserted, records_received from ops.extraction_runs order by run_id")
    # the repeated t2 is fetched twice but received once: records_received is what an API count matches
    assert runs == [("r1", 5, 4, 4), ("r2", 5, 0, 4), ("r3", 1, 1, 1)]


def test_failure_halfway_leaves_nothing_and_the_rerun_completes(db):
    with pytest.raises(ConnectionError):
        run(db, ToyStream(PAGES, fail_after=2))
    assert rows(db, "select count(*) from raw.toy__things") == [(0,)]
    assert rows(db, "select count(*) from ops.extraction_state") == [(0,)]
    result = run(db, ToyStream(PAGES))
    assert result.inserted == 4
    assert rows(db, "select count(distinct source_id), count(*) from raw.toy__things") == [(4, 4)]


def test_bad_records_are_quarantined_with_field_and_reason(db, caplog):
    bad = [[thing(1), {"id": None, "amount": 5, "updated": "2026-11-01T11:00:00Z"}, thing(2, amount=-3),
            thing(3, updated="2026-13-45T25:61:00Z")]]
    with caplog.at_level(logging.WARNING):
        result = run(db, ToyStream(bad))
    assert (result.inserted, result.quarantined) == (1, 3)
    quarantined = rows(db, "select record_id, field, reason from raw._quarantine order by field, record_id")
    assert quarantined == [
        ("t2", "amount", "negative amount -3"),
        (None, "id", "missing id"),
        ("t3", "updated", "unparseable timestamp '2026-13-45T25:61:00Z'"),
    ]
    assert "quarantined record t2: amount" in caplog.text
    # quarantined records were received too (the one without an id told apart by its payload)
    assert rows(db, "select records_received from ops.extraction_runs where run_id = 'r1'") == [(4,)]
    run(db, ToyStream(bad), run_id="r2")  # a rerun does not quarantine the same records twice
    assert rows(db, "select count(*) from raw._quarantine") == [(3,)]


def test_too_many_bad_records_fail_the_run_and_load_nothing(db):
    bad = [[thing(i, amount=-1) for i in range(10)] + [thing(99)]]
    with pytest.raises(QuarantineExceeded, match="10 of 11 records failed"):
        run(db, ToyStream(bad), quarantine_floor=5)
    assert rows(db, "select count(*) from raw.toy__things") == [(0,)]
    assert rows(db, "select count(*) from raw._quarantine") == [(0,)]


def test_secrets_are_masked_in_every_log_record(caplog):
    conn = parse("shop_default", '{"conn_type": "http", "host": "h", "password": "shh-very-secret-1"}')
    register_secret("token-from-an-oauth-call")
    assert "shh-very-secret-1" not in repr(conn)
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything").info("calling with %s and %s", conn.password, "token-from-an-oauth-call")
    assert "shh-very-secret-1" not in caplog.text and "token-from-an-oauth-call" not in caplog.text
    assert "calling with *** and ***" in caplog.text


class WatchedStream(ToyStream):
    """Reads the warehouse as PayPal's streams do, then records, between pages, every other connection
    to it that holds a transaction id or a snapshot."""

    def __init__(self, pages, url):
        super().__init__(pages)
        self.url, self.held = url, []

    def pages(self, ctx: ExtractContext):
        with ctx.warehouse.cursor() as cur:
            cur.execute("select to_regclass(%s)", ("raw.toy__things",))
        with psycopg.connect(self.url, autocommit=True) as watcher:
            for page in super().pages(ctx):
                yield page
                self.held += watcher.execute(
                    "select state, backend_xid::text, backend_xmin::text from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                    " and (backend_xid is not null or backend_xmin is not null)").fetchall()


def test_no_transaction_stays_open_while_the_api_is_read(db):
    # an open transaction (an xid, or only a snapshot) stops vacuum from pruning anything newer, such as
    # the rate-limit bucket row every request updates; over an hour-long load each update walked them all
    stream = WatchedStream(PAGES, db)
    assert run(db, stream).inserted == 4
    assert stream.held == []


def test_payloads_round_trip_through_the_spool_whatever_their_characters(db):
    awkward = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash \\N \\t", "ünïcödé ✓", '"quoted"']
    page = [thing(i, note=text) for i, text in enumerate(awkward)]
    page.append({"id": "id\twith\\tab", "amount": 1, "updated": "2026-11-01T11:40:00+01:00"})
    assert run(db, ToyStream([page])).inserted == len(page)
    loaded = dict(rows(db, "select source_id, payload from raw.toy__things"))
    assert loaded == {record["id"]: record for record in page}
    assert rows(db, "select source_updated_at from raw.toy__things where source_id = %s", ["id\twith\\tab"]) == [
        (datetime(2026, 11, 1, 10, 40, tzinfo=UTC),)]
