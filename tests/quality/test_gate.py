"""The quality gate against a warehouse the real pipeline filled (sandbox -> run_stream -> dbt).

A clean build passes both suites; each kind of breakage makes the gate raise naming exactly the broken
expectations with what was observed; results land in `ops` and in Data Docs; hostile input fails the raw
gate on the quarantine, flaky input does not fail it.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pendulum
import psycopg
import pytest

from shipshape import warehouse
from shipshape.ingest.catalog import all_streams
from shipshape.ingest.runner import run_stream
from shipshape.quality import QualityGateFailed, run_gate
from shipshape.quality.gate import GateResult
from shipshape_sandbox.dump import sandbox_connections
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import World

pytestmark = pytest.mark.integration

QUARANTINE = "raw._quarantine: no record quarantined by the ingest runs being reconciled"
COUNTS = "ops.extraction_runs: records received equal the count the API reported"


def ingest(world: World, url: str, *, faults: str, run_id: str, only_malformed: bool = False,
           interval: timedelta = timedelta(hours=1)) -> list[dict]:
    """Every stream through `run_stream` against a sandbox serving `world` with `faults` (what the ingest
    DAG's tasks do, without Airflow)."""
    sandbox = Sandbox(world, faults=faults, rate_limits="off")
    if faults != "none":
        sandbox.faults.slow_seconds = 0.05  # the slowness is not what is tested here
    if only_malformed:  # retries (and their backoff) are the flaky test's business
        sandbox.faults.error_rate = sandbox.faults.throttle_rate = sandbox.faults.slow_rate = 0
        sandbox.faults.malformed_rate = 0.03
    results = []
    with running(sandbox) as base:
        connections = sandbox_connections(base, sandbox.credentials.as_json())
        for stream in all_streams().values():
            results.append(run_stream(stream, warehouse_url=url, interval_start=world.clock - interval,
                                      interval_end=world.clock, run_id=run_id,
                                      connection=connections[stream.conn_id]).as_dict())
    return results


def failures(excinfo: pytest.ExceptionInfo[QualityGateFailed]) -> dict[str, object]:
    return {o.expectation: o.observed_value for o in excinfo.value.result.failures}


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def fetch(url: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_a_clean_build_passes_both_gates_offline_and_records_everything(built_clone, built_world, gate_settings,
                                                                        monkeypatch, caplog):
    def loopback_only(sock, address):
        # GX must not reach the network (usage statistics, version checks); the warehouse is local
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access to {address}")
        return real_connect(sock, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    caplog.set_level("INFO", logger="shipshape.quality")
    as_of = built_world.clock

    raw = run_gate("raw", built_clone, as_of=as_of, run_id="clean", settings=gate_settings)
    # as Airflow hands it over: a pendulum DateTime (GX once lost its zone, failing every range check)
    marts = run_gate("marts", built_clone, as_of=pendulum.instance(as_of), run_id="clean", settings=gate_settings)

    for result in (raw, marts):
        assert isinstance(result, GateResult) and result.success and not result.failures
        print(f"{result.suite}: {len(result.outcomes)} expectations in {result.seconds:.2f} s")
    raw_names = {o.expectation for o in raw.outcomes}
    assert {QUARANTINE, COUNTS, "raw.shopify__orders: total_price not negative",
            "raw.stripe__charges: currency is an ISO 4217 code", "raw.tracking__trackers: source_updated_at in range",
            "raw.shiphero__orders: record key not null"} <= raw_names
    marts_names = {o.expectation for o in marts.outcomes}
    assert {"marts.fct_order_reconciliation: shopify_order_id unique",
            "marts.order_counts: one reconciled row per Shopify order in staging"} <= marts_names
    # the counts the APIs report were compared (Shopify's bulk export count, PayPal's total_items)
    compared = fetch(built_clone, "select source || '.' || stream, api_reported_count, records_received"
                                  " from ops.extraction_runs where api_reported_count is not null order by 1")
    assert {r[0] for r in compared} >= {"paypal.transactions", "shopify.orders"}
    assert all(r[1] == r[2] for r in compared), compared

    runs = fetch(built_clone, "select suite, success, evaluated, failed, as_of, data_docs from ops.quality_runs"
                              " where run_id = 'clean' order by suite")
    index = gate_settings.data_docs_dir / "index.html"
    assert runs == [("marts", True, len(marts.outcomes), 0, as_of, str(index)),
                    ("raw", True, len(raw.outcomes), 0, as_of, str(index))]
    rows = fetch(built_clone, "select suite, count(*), bool_and(success), bool_and(as_of = %s)"
                              " from ops.quality_results where run_id = 'clean' group by suite order by suite", as_of)
    assert rows == [("marts", len(marts.outcomes), True, True), ("raw", len(raw.outcomes), True, True)]
    assert index.is_file() and raw.data_docs_index == index
    assert "shopify_order_id unique" in index.read_text() or any(
        "shopify_order_id unique" in p.read_text() for p in gate_settings.data_docs_dir.rglob("*.html"))
    assert f"Data Docs at {index}" in caplog.text


def test_the_data_docs_list_every_gate_and_forget_beyond_the_limit(built_clone, built_world, gate_settings):
    """Each gate adds its validations to the site, whose index lists the gates of earlier runs too (a run's
    link to the Data Docs finds its own gate there after later runs); beyond the limit the oldest results
    leave the index, the store and the site."""
    import dataclasses

    as_of = built_world.clock
    index = gate_settings.data_docs_dir / "index.html"
    first = run_gate("marts", built_clone, as_of=as_of, run_id="run-1", settings=gate_settings)
    per_gate = len(list(gate_settings.validation_results_dir.rglob("*.json")))
    assert per_gate > 0 and "marts:run-1" in index.read_text()
    run_gate("marts", built_clone, as_of=as_of, run_id="run-2", settings=gate_settings)
    listed = index.read_text()
    assert "marts:run-1" in listed and "marts:run-2" in listed  # not only the last gate's
    pages = {p.name for p in gate_settings.data_docs_dir.joinpath("validations").rglob("*.html")}
    assert len(list(gate_settings.validation_results_dir.rglob("*.json"))) == 2 * per_gate

    # keep one gate's worth: the third gate's results stay, the two earlier ones go, pages included
    keep_one = dataclasses.replace(gate_settings, data_docs_keep=per_gate)
    run_gate("marts", built_clone, as_of=as_of, run_id="run-3", settings=keep_one)
    listed = index.read_text()
    assert "marts:run-3" in listed and "marts:run-1" not in listed and "marts:run-2" not in listed
    assert len(list(gate_settings.validation_results_dir.rglob("*.json"))) == per_gate
    left = list(gate_settings.data_docs_dir.joinpath("validations").rglob("*.html"))
    assert len(left) == per_gate and pages, (len(left), per_gate)
    assert first.success


def test_broken_raw_data_fails_the_raw_gate_naming_each_expectation(built_clone, built_world, gate_settings):
    as_of = built_world.clock
    future = as_of + timedelta(days=2)
    execute(
        built_clone,
        # a ShipHero order the dump's run could not load
        "insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id) values"
        " ('shiphero', 'orders', 'T3JkZXI6OTk5', 'total_price', 'negative amount ''-1''', '{}', 'sandbox-dump-raw')",
        "update raw.shopify__orders set payload = jsonb_set(payload, '{totalPriceSet,shopMoney,amount}', '\"-12.50\"')"
        " where source_id = (select min(source_id) from raw.shopify__orders)",
        "update raw.stripe__charges set payload = jsonb_set(payload, '{currency}', '\"zzz\"')"
        " where source_id = (select min(source_id) from raw.stripe__charges)",
        f"update raw.tracking__trackers set source_updated_at = '{future.isoformat()}'"
        " where source_id = (select min(source_id) from raw.tracking__trackers)",
        "update ops.extraction_runs set api_reported_count = api_reported_count + 1"
        " where source = 'shopify' and stream = 'orders'",
    )
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("raw", built_clone, as_of=as_of, run_id="broken", settings=gate_settings)

    failed = failures(excinfo)
    assert failed == {
        QUARANTINE: 1,
        "raw.shopify__orders: total_price not negative": {"element_count": 300, "unexpected_count": 1,
                                                          "missing_count": 0, "examples": [-12.5]},
        "raw.stripe__charges: currency is an ISO 4217 code": failed["raw.stripe__charges: currency is an ISO 4217 code"],
        "raw.tracking__trackers: source_updated_at in range": failed["raw.tracking__trackers: source_updated_at in range"],
        COUNTS: failed[COUNTS],
    }
    assert failed["raw.stripe__charges: currency is an ISO 4217 code"]["examples"] == ["ZZZ"]
    assert failed["raw.tracking__trackers: source_updated_at in range"]["unexpected_count"] == 1
    assert failed[COUNTS]["examples"] == [[301, 300]]
    message = str(excinfo.value)
    assert "5 of" in message
    for name in failed:
        assert name in message
    assert "e.g. [-12.5]" in message and "e.g. [[301, 300]]" in message

    stored = dict(fetch(built_clone, "select expectation, observed_value from ops.quality_results"
                                     " where run_id = 'broken' and not success"))
    assert stored == failed
    assert fetch(built_clone, "select success, failed from ops.quality_runs where run_id = 'broken'") == [(False, 5)]


def test_a_duplicated_reconciled_row_fails_the_marts_gate(built_clone, built_world, gate_settings):
    # the mart is a view over the incremental table
    execute(built_clone, "insert into intermediate.int_order_reconciliation select * from"
                         " intermediate.int_order_reconciliation where shopify_order_id ="
                         " (select min(shopify_order_id) from intermediate.int_order_reconciliation)")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("marts", built_clone, as_of=built_world.clock, run_id="dup", settings=gate_settings)
    failed = failures(excinfo)
    assert set(failed) == {"marts.fct_order_reconciliation: shopify_order_id unique",
                           "marts.order_counts: one reconciled row per Shopify order in staging"}
    assert failed["marts.fct_order_reconciliation: shopify_order_id unique"]["unexpected_count"] == 2
    assert failed["marts.order_counts: one reconciled row per Shopify order in staging"]["examples"] == [[301, 300]]


def test_marts_built_at_another_as_of_fail_the_gate(built_clone, built_world, gate_settings):
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("marts", built_clone, as_of=built_world.clock + timedelta(hours=1), run_id="stale",
                 settings=gate_settings)
    failed = failures(excinfo)
    assert set(failed) == {"marts.as_of: every mart built at this as-of"}
    assert failed["marts.as_of: every mart built at this as-of"]["examples"][0] == \
        built_world.clock.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_history(url: str, as_of, rates: list[float]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for i, rate in enumerate(rates, start=1):
            conn.execute("insert into ops.quality_mismatch_rates (run_id, as_of, orders, mismatched, mismatch_rate)"
                         " values (%s, %s, 1000, %s, %s)", (f"past-{i}", as_of - timedelta(hours=i), rate * 1000, rate))


def test_a_mismatch_rate_spike_fails_the_marts_gate_once_there_is_history(built_clone, built_world, gate_settings):
    as_of = built_world.clock
    (rate,) = fetch(built_clone, "select avg((cardinality(mismatch_codes) > 0)::int)::float8"
                                 " from marts.fct_order_reconciliation")[0]
    assert rate > 0.05, "the sandbox world should carry mismatches"
    # too little history: the check does not apply yet
    run_gate("marts", built_clone, as_of=as_of, run_id="young", settings=gate_settings)
    # a steady recent level near today's: passes
    seed_history(built_clone, as_of, [rate * 0.8, rate * 0.9, rate, rate * 1.1, rate * 0.7])
    passed = run_gate("marts", built_clone, as_of=as_of, run_id="steady", settings=gate_settings)
    assert "marts.mismatch_rate: mismatch rate not many times its recent median" in {
        o.expectation for o in passed.outcomes}
    # today's rate ten times the recent median: fails, naming the observed rate
    execute(built_clone, "update ops.quality_mismatch_rates set mismatch_rate = mismatch_rate / 10"
                         " where run_id like 'past-%'")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("marts", built_clone, as_of=as_of, run_id="spike", settings=gate_settings)
    failed = failures(excinfo)
    assert set(failed) == {"marts.mismatch_rate: mismatch rate not many times its recent median"}
    assert failed["marts.mismatch_rate: mismatch rate not many times its recent median"] == pytest.approx(rate)
    (details,) = fetch(built_clone, "select details from ops.quality_results where run_id = 'spike' and not success")[0]
    median = rate * 0.9 / 10  # of the five seeded rates, each divided by ten
    assert details["meta"]["recent_median"] == pytest.approx(median)
    assert details["max_value"] == pytest.approx(3 * max(median, gate_settings.mismatch_floor))
    # each gate run keeps its own rate: the history grows
    assert {r[0] for r in fetch(built_clone, "select run_id from ops.quality_mismatch_rates")} >= {
        "young", "steady", "spike"}


def test_a_raw_gate_judges_only_the_ingest_runs_since_the_last_pass(built_clone, built_world, gate_settings):
    as_of = built_world.clock
    run_gate("raw", built_clone, as_of=as_of, run_id="first", settings=gate_settings)
    execute(built_clone, "insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id)"
                         " values ('stripe', 'charges', 'ch_x', 'id', 'missing id', '{}', 'sandbox-dump-raw')")
    # the next hour's ingest run (nothing new) covers every stream up to the next as-of
    execute(built_clone, "insert into ops.extraction_runs (run_id, source, stream, window_start, window_end, fetched,"
                         " inserted, quarantined, requests, retries, started_at, finished_at)"
                         f" select distinct 'next-hour', source, stream, '{as_of - timedelta(hours=2)}'::timestamptz,"
                         f" '{as_of + timedelta(hours=1)}'::timestamptz, 0, 0, 0, 0, 0, now(), now() from ops.extraction_runs")
    # the next reconcile judges runs after `as_of`: the dump's run was judged (and passed) already
    run_gate("raw", built_clone, as_of=as_of + timedelta(hours=1), run_id="second", settings=gate_settings)
    # a gate at the same as-of (a rerun) judges that run again and sees the quarantined record
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("raw", built_clone, as_of=as_of, run_id="first", settings=gate_settings)
    assert set(failures(excinfo)) == {QUARANTINE}


def test_hostile_ingest_fails_the_raw_gate_on_the_quarantine(fresh_database, gate_settings):
    world = build_world(60, seed=41)
    warehouse.bootstrap(fresh_database)
    results = ingest(world, fresh_database, faults="hostile", run_id="hostile", only_malformed=True)
    quarantined = sum(r["quarantined"] for r in results)
    assert quarantined > 0, "hostile mode malformed nothing: the test proves nothing"
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate("raw", fresh_database, as_of=world.clock, run_id="hostile", settings=gate_settings)
    failed = failures(excinfo)
    assert failed[QUARANTINE] == quarantined
    assert QUARANTINE in str(excinfo.value)
    # nothing else is broken: the loader kept every malformed record out of the raw tables
    assert set(failed) == {QUARANTINE}, failed


def test_flaky_ingest_passes_the_raw_gate(fresh_database, gate_settings):
    world = build_world(60, seed=42)
    warehouse.bootstrap(fresh_database)
    results = ingest(world, fresh_database, faults="flaky", run_id="flaky")
    assert sum(r["retries"] for r in results) > 0, "the flaky sandbox injected no fault: the test proves nothing"
    result = run_gate("raw", fresh_database, as_of=world.clock, run_id="flaky", settings=gate_settings)
    assert result.success
