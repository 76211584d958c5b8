"""The as-of of a reconcile run (`shipshape.reconcile.as_of`), for every kind of run: triggered by ingest's
Assets, with a data interval (scheduled by dag.test, manual with a logical date, backfill), and with
neither (a manual run without a logical date, asset events posted by hand)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from shipshape import warehouse
from shipshape.reconcile.as_of import from_asset_events, resolve

T = datetime(2026, 11, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def event(uri: str, end: datetime | None) -> tuple[str, dict]:
    return uri, ({} if end is None else {"window_start": (end - 3 * HOUR).isoformat(), "window_end": end.isoformat()})


def test_an_asset_triggered_run_judges_where_every_stream_it_consumed_is_loaded_through():
    # stream a was loaded twice since the last reconcile (T-1h, then T); stream b only once, through T-1h
    events = [event("a", T - HOUR), event("a", T), event("b", T - HOUR)]
    assert from_asset_events(events) == T - HOUR
    moment, why = resolve(asset_events=events, data_interval_end=None, run_after=T + 5 * HOUR)
    assert moment == T - HOUR and "ingest window" in why


def test_the_same_events_give_the_same_as_of_whatever_the_run_and_its_order():
    events = [event("a", T), event("b", T), event("c", T)]
    first, _ = resolve(asset_events=events, data_interval_end=None, run_after=T + HOUR)
    retried, _ = resolve(asset_events=list(reversed(events)), data_interval_end=None, run_after=T + 9 * HOUR)
    assert first == retried == T


def test_a_run_with_a_data_interval_judges_at_its_end():
    moment, why = resolve(asset_events=[], data_interval_end=T, run_after=T + 2 * HOUR)
    assert moment == T and why == "the run's data interval end"
    # asset events without a window end (posted by hand) do not count
    moment, _ = resolve(asset_events=[("a", {"note": "by hand"}), ("b", None)], data_interval_end=T,
                        run_after=T + HOUR)
    assert moment == T


def test_a_run_with_neither_judges_where_the_warehouse_is_loaded_through_but_not_after_it_was_due(fresh_database):
    warehouse.bootstrap(fresh_database)
    # nothing loaded yet: the moment it was due
    assert resolve(asset_events=[], data_interval_end=None, run_after=T, warehouse_url=fresh_database)[0] == T
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table if not exists ops.extraction_runs (run_id text, source text, stream text,"
                     " window_start timestamptz, window_end timestamptz)")
        conn.execute("insert into ops.extraction_runs values ('r1', 's', 'a', null, %s), ('r2', 's', 'a', null, %s),"
                     " ('r1', 's', 'b', null, %s)", (T - HOUR, T, T - HOUR))
    moment, why = resolve(asset_events=[], data_interval_end=None, run_after=T + HOUR, warehouse_url=fresh_database)
    assert moment == T - HOUR and "loaded through" in why  # stream b holds it back
    assert resolve(asset_events=[], data_interval_end=None, run_after=T - 2 * HOUR,
                   warehouse_url=fresh_database)[0] == T - 2 * HOUR
    # a run from the trigger form ("now") judges where the streams are loaded through, not past it
    moment, why = resolve(asset_events=[], data_interval_end=T + 30 * timedelta(minutes=1), run_after=None,
                          warehouse_url=fresh_database)
    assert moment == T - HOUR and "before the run's data interval end" in why
    # a backfill of an earlier interval judges at that interval's end
    assert resolve(asset_events=[], data_interval_end=T - 3 * HOUR, run_after=None,
                   warehouse_url=fresh_database)[0] == T - 3 * HOUR
