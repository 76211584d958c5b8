"""What the console's tests (and its browser test) share: a warehouse built by the real pipeline from a
sandbox world in which every code occurs, with gate verdicts and every outbox status to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from shipshape import dbt, warehouse
from shipshape.corrections import outbox
from shipshape.corrections.push import push_corrections
from shipshape.quality import GateSettings, QualityGateFailed, run_gate
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world

# The smallest world found in which every SPEC.md order code occurs, with orphan payments and SKUs out of
# sync (searched with shipshape_sandbox.truth over seeds at this size).
ORDERS = 600
SEED = 36
EARLIER = timedelta(hours=36)
BREAKER = "circuit breaker: 3 actions to apply exceed the limit of 2 (a test's refusal)"
QUARANTINED = ("insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id) values"
               " ('shiphero', 'orders', 'T3JkZXI6OTk5', 'total_price', 'negative amount -1',"
               " '{\"id\": \"T3JkZXI6OTk5\"}', 'sandbox-dump-raw') returning id")


@dataclass(frozen=True)
class Built:
    url: str  # the warehouse (as its owner)
    as_of: datetime
    quarantine_id: int  # quarantined by the dump's run; the raw gate failed on it
    data_docs: Path


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement as the warehouse's owner; its rows (none for a statement that returns none)."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def build_console_warehouse(url: str, work: Path, orders: int = ORDERS, seed: int = SEED) -> Built:
    """Fill the empty database ``url``: the world dumped through the real extraction, a record quarantined by
    that run, dbt (seeds and models) at the world clock less ``EARLIER`` and then at the world clock, the raw
    gate (failing on the record) and the marts gate (passing), a dry-run push (every action planned), then a refusal by the circuit breaker of three
    actions, a failed and an applied one, recorded by the outbox's own functions."""
    world = build_world(orders, seed=seed)
    warehouse.bootstrap(url)
    dump_raw(world, url)
    as_of = world.clock
    ((quarantine_id,),) = sql(url, QUARANTINED)
    # two runs, a day and a half apart, so that the history has codes of different ages and some resolved
    for moment in (as_of - EARLIER, as_of):
        result = dbt.run(["build", "--resource-type", "seed", "--resource-type", "model"], url=url, as_of=moment,
                         target_path=work / "target", log_path=work / "logs", echo=False)
        assert result.success, result.output[-3000:]
    settings = GateSettings(data_docs_dir=work / "data_docs")
    try:
        run_gate("raw", url, as_of=as_of, run_id="reconcile-1", settings=settings)
    except QualityGateFailed:
        pass  # on the quarantined record, as it should
    else:
        raise AssertionError("the raw gate should fail on the quarantined record")
    run_gate("marts", url, as_of=as_of, run_id="reconcile-1", settings=settings)
    push_corrections(url, run_id="push-dry", apply=False, connections={})
    # order actions first: the failed and the applied one belong to an order, for the order's page
    keys = [k for (k,) in sql(url, "select idempotency_key from ops.correction_log"
                                   " order by shopify_order_id is null, action_id")]
    assert len(keys) >= 6, "the world should plan enough actions"
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        outbox.mark_refused(conn, keys[:3], "push-refused", BREAKER)
        outbox.mark_sending(conn, keys[3], "push-apply", now)
        outbox.mark_failed(conn, keys[3], "ApiError: 502 from ShipHero", None, now + timedelta(minutes=5))
        outbox.mark_sending(conn, keys[4], "push-apply", now)
        outbox.mark_done(conn, keys[4], "applied", "created", {"ok": True}, now)
    return Built(url, as_of, quarantine_id, settings.data_docs_dir)
