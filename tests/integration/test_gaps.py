"""A gap between ingest runs is closed by the next run, and the raw gate proves it.

For a 30-hour, a 10-day and a 40-day gap (past Stripe's 30 days of events and PayPal's 31-day search
window): one hourly run loads the sandbox and the marts are built and gated; the sandbox's clock then
moves on by the gap (new orders, shipments, refunds, stock changes) with no run in between; a single
run follows. Its ingest reads from each stream's high-water mark, so the marts built at its as-of equal
the sandbox's truth for every code (precision and recall printed per code) and the raw gate passes.
With that run's window of one stream removed by hand from `ops.extraction_runs`, the gate fails naming
the stream and the span nothing covers.

The pipeline's own parts are driven without Airflow: `run_stream` per stream (what each ingest task
runs), dbt build of the project at the as-of, `run_gate`. The first run is the same for every gap, so it
is built once (`before_the_gap`) and each test starts from a copy of that database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape.ingest.catalog import all_streams
from shipshape.ingest.runner import run_stream
from shipshape.quality import GateSettings, QualityGateFailed, run_gate
from shipshape_sandbox import lifecycle
from shipshape_sandbox.compare import compare
from shipshape_sandbox.dump import UNPACED, sandbox_connections
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox

ORDERS = 1000
SEED = 4242
HOUR = timedelta(hours=1)
COVERAGE = "ops.extraction_coverage: the windows loaded cover every moment since the last gated as-of"


def ingest(connections, url: str, end: datetime, run_id: str) -> dict[str, dict]:
    """One hourly ingest run for the interval ending at `end`: every stream, in the DAG's order."""
    return {key: run_stream(stream, warehouse_url=url, interval_start=end - HOUR, interval_end=end, run_id=run_id,
                            connection=connections[stream.conn_id]).as_dict()
            for key, stream in all_streams().items()}


def reconcile(url: str, as_of: datetime, run_id: str, tmp_path) -> None:
    """dbt (seeds and models, incremental after the first) at `as_of`, then the raw gate."""
    result = dbt.run(["build", "--resource-type", "seed", "--resource-type", "model"], url=url, as_of=as_of,
                     target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)
    assert result.success, result.output[-3000:]
    run_gate("raw", url, as_of=as_of, run_id=run_id, settings=GateSettings(data_docs_dir=tmp_path / "docs"))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def before_the_gap(module_database, tmp_path_factory):
    """What every gap starts from, built once for the three: a database holding the first hourly run (the
    world of ORDERS orders, SEED, ingested and reconciled at its clock), kept as a template that each test
    clones. The world is deterministic, so each test builds its own copy at the same clock."""
    url = module_database
    warehouse.bootstrap(url)
    world = build_world(ORDERS, seed=SEED)
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json(), **UNPACED)
        ingest(connections, url, world.clock, "before-the-gap")
        reconcile(url, world.clock, "reconcile-before", tmp_path_factory.mktemp("before-the-gap"))
    return url, world.clock


@pytest.mark.integration
@pytest.mark.parametrize("gap", [timedelta(hours=30), timedelta(days=10), timedelta(days=40)],
                         ids=["30 hours", "10 days", "40 days"])
def test_one_run_after_a_gap_closes_it(gap, before_the_gap, clone_of, tmp_path):
    template, before = before_the_gap
    fresh_database = clone_of(template)
    world = build_world(ORDERS, seed=SEED)
    assert world.clock == before
    sandbox = Sandbox(world, faults="none", rate_limits="off")
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json(), **UNPACED)
        lifecycle.advance(world, gap)
        after = world.clock
        results = ingest(connections, fresh_database, after, "after-the-gap")
    # every stream read from its high-water mark (the run before the gap) minus the 2-hour lookback
    starts = {key: r["window_start"] for key, r in results.items()}
    assert set(starts.values()) == {(before - 2 * HOUR).isoformat()}, starts

    reconcile(fresh_database, after, "reconcile-after", tmp_path)  # the raw gate passes: coverage is complete
    comparison = compare(world, fresh_database)
    print(f"\nafter a gap of {gap} ({len(world.shopify_orders)} orders), one run: {comparison.report()}")
    problems = comparison.problems(after)
    assert not problems, "\n".join(problems[:40])

    # the gap run's window of one stream removed by hand: nothing covers [before, after) for it any more
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("delete from ops.extraction_runs where run_id = 'after-the-gap' and source = 'shiphero'"
                     " and stream = 'shipments'")
    with pytest.raises(QualityGateFailed) as failed:
        run_gate("raw", fresh_database, as_of=after, run_id="reconcile-after-again",
                 settings=GateSettings(data_docs_dir=tmp_path / "docs"))
    failures = {o.expectation: o.observed_value for o in failed.value.result.failures}
    assert set(failures) == {COVERAGE}, failures
    assert failures[COVERAGE]["examples"] == [f"shiphero.shipments: nothing loaded in [{iso(before)}, {iso(after)})"]
    assert f"shiphero.shipments: nothing loaded in [{iso(before)}, {iso(after)})" in str(failed.value)
