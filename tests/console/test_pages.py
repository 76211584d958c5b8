"""Every console page against a warehouse the real pipeline built from a sandbox world in which every code
occurs (conftest.py): each figure a page shows equals the marts' own, computed here by a query of the
test's own; the Orders filters narrow to exactly the orders they should; the Overview's ``?as_of=`` says
when the marts moved on; acknowledging a quarantined record in the console stops the raw gate failing on
it while a new bad record still fails it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest
from console_helpers import BREAKER, sql

from shipshape import codes
from shipshape.quality import GateSettings, QualityGateFailed, run_gate

pytestmark = pytest.mark.integration

QUARANTINE = "raw._quarantine: no record quarantined by the ingest runs being reconciled"


def frame(at, key: str) -> pd.DataFrame:
    """The table the page shows under ``key`` (ui.table)."""
    found = [c for c in at.container if c.key == key]
    assert found, f"no table {key!r} on the page; keys: {[c.key for c in at.container if c.key]}"
    (table,) = found[0].dataframe
    return table.value


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def shows_as_of(at, built) -> None:
    stamp = built.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert any(stamp in i.value for i in at.info), [i.value for i in at.info]


def test_every_code_occurs(built) -> None:
    """The world is the one the issue asks for: every order code, orphan payments, SKUs out of sync."""
    found = {c for (c,) in sql(built.url, "select distinct unnest(mismatch_codes) from marts.fct_order_reconciliation")}
    assert found == set(codes.names("order"))
    assert sql(built.url, "select count(*) from marts.fct_payment_reconciliation where orphan_payment")[0][0] > 0
    assert sql(built.url, "select count(*) from marts.fct_inventory_reconciliation where inventory_mismatch")[0][0] > 0


def test_overview(built, console_at) -> None:
    at = console_at(built.url)
    no_errors(at)
    shows_as_of(at, built)
    rows = sql(built.url, "select code, severity from marts.mismatch_history where is_open")
    expected = Counter(rows)
    shown = frame(at, "open_by_code")
    assert {(r.code, r.severity): r.open for r in shown.itertuples()} == dict(expected)
    assert metrics(at)["Open mismatches"] == str(len(rows))

    money: dict[str, Decimal] = {}
    for currency, amount in sql(built.url, "select currency, amount_at_risk from marts.fct_order_reconciliation"):
        if amount > 0:
            money[currency] = money.get(currency, Decimal(0)) + amount
    assert {r.currency: Decimal(str(r.amount_at_risk)) for r in frame(at, "money_at_risk").itertuples()} == money

    daily: dict = {}
    for day, opened, resolved in sql(built.url, "select day, opened_count, resolved_count from marts.mismatch_daily"):
        o, r = daily.get(day, (0, 0))
        daily[day] = (o + opened, r + resolved)
    flow = frame(at, "daily_flow")
    assert {pd.Timestamp(r.day).date(): (r.opened, r.resolved) for r in flow.itertuples()} == daily

    gates = frame(at, "gate_verdicts")
    assert dict(zip(gates["suite"], gates["verdict"], strict=True)) == {"raw": "FAILED", "marts": "passed"}
    streams = sql(built.url, "select count(distinct (source, stream)) from ops.extraction_runs")[0][0]
    assert len(frame(at, "ingest_runs")) == streams

    (run_id,) = sql(built.url, "select run_id from ops.correction_log order by updated_at desc limit 1")[0]
    assert run_id == "push-apply"
    by_status = dict(sql(built.url, "select status, count(*) from ops.correction_log where run_id = %s group by 1",
                         (run_id,)))
    shown = metrics(at)
    for status in ("applied", "failed", "planned", "refused"):
        assert shown[status] == str(by_status.get(status, 0)), status


def test_overview_link_from_another_run(built, console_at) -> None:
    earlier = built.as_of - timedelta(hours=3)
    at = console_at(built.url, as_of=earlier.strftime("%Y-%m-%dT%H:%M:%SZ"))
    no_errors(at)
    (warning,) = [w.value for w in at.warning]
    assert "you followed a link from the run judged at" in warning.lower()
    assert earlier.strftime("%Y-%m-%d %H:%M:%S UTC") in warning
    assert built.as_of.strftime("%Y-%m-%d %H:%M:%S UTC") in warning

    same = console_at(built.url, as_of=built.as_of.isoformat())
    assert not same.warning and same.success

    bad = console_at(built.url, as_of="yesterday")
    assert "'yesterday' is not an ISO-8601 timestamp" in bad.error[0].value


def orders_page(console_at, url):
    at = console_at(url)
    return at.switch_page("views/orders.py").run()


def test_orders_filters_narrow(built, console_at) -> None:
    at = orders_page(console_at, built.url)
    no_errors(at)
    shows_as_of(at, built)
    rows = sql(built.url, "select o.order_name, o.mismatch_codes, o.max_severity, o.currency, o.amount_at_risk,"
                          " cardinality(o.stripe_payment_intent_ids) > 0, cardinality(o.paypal_capture_ids) > 0,"
                          " extract(epoch from o.as_of - (select min(h.first_seen_at) from marts.mismatch_history"
                          " as h where h.shopify_order_id = o.shopify_order_id and h.is_open)) / 3600"
                          " from marts.fct_order_reconciliation as o where o.mismatch_count > 0")
    assert metrics(at)["Orders matching"] == str(len(rows))
    assert set(frame(at, "orders_table")["order_name"]) == {r[0] for r in rows}

    def check(expected_names: set[str]) -> None:
        at.run()
        no_errors(at)
        assert metrics(at)["Orders matching"] == str(len(expected_names))
        shown = frame(at, "orders_table")["order_name"] if expected_names else pd.Series([], dtype=object)
        assert set(shown) == expected_names
        assert 0 < len(expected_names) < len(rows) or not expected_names

    at.multiselect(key="f_codes").set_value(["ADDRESS_MISMATCH"])
    check({r[0] for r in rows if "ADDRESS_MISMATCH" in r[1]})
    at.multiselect(key="f_codes").set_value([])

    at.multiselect(key="f_severities").set_value(["low"])
    check({r[0] for r in rows if r[2] == "low"})
    at.multiselect(key="f_severities").set_value([])

    currency = Counter(r[3] for r in rows).most_common(1)[0][0]
    at.multiselect(key="f_currencies").set_value([currency])
    check({r[0] for r in rows if r[3] == currency})
    at.multiselect(key="f_currencies").set_value([])

    # PayPal: a code that concerns PayPal, on an order with a PayPal payment
    at.multiselect(key="f_systems").set_value(["paypal"])
    check({r[0] for r in rows if r[6] and any("paypal" in codes.get(c).systems for c in r[1])})
    at.multiselect(key="f_systems").set_value(["carrier"])
    check({r[0] for r in rows if any("carrier" in codes.get(c).systems for c in r[1])})
    at.multiselect(key="f_systems").set_value([])

    amounts = sorted(r[4] for r in rows if r[4] > 0)
    threshold = amounts[len(amounts) // 2]
    at.number_input(key="f_amount").set_value(float(threshold))
    check({r[0] for r in rows if r[4] >= threshold})
    at.number_input(key="f_amount").set_value(0.0)

    ages = sorted({r[7] for r in rows})
    assert len(ages) > 1, "episodes should have different ages for the age filter to narrow"
    at.number_input(key="f_age").set_value(float(ages[-1]) - 0.01)
    check({r[0] for r in rows if r[7] >= ages[-1] - Decimal("0.01")})


def test_order_page(built, console_at) -> None:
    (name, oid) = sql(built.url, "select order_name, shopify_order_id from ops.correction_log"
                                 " where status = 'failed' limit 1")[0]
    at = orders_page(console_at, built.url)
    at.text_input(key="order_ref").set_value(name).run()
    no_errors(at)
    assert any(name in m.value for m in at.markdown)
    history = frame(at, "order_history")
    expected = sql(built.url, "select code, first_seen_at, resolved_at from marts.mismatch_history"
                              " where shopify_order_id = %s", (oid,))
    assert sorted(history["code"]) == sorted(r[0] for r in expected)
    sent = frame(at, "order_corrections")
    log = sql(built.url, "select action, status, attempts, error from ops.correction_log where shopify_order_id = %s",
              (oid,))
    assert sorted(zip(sent["action"], sent["status"], sent["attempts"], strict=True)) == sorted(r[:3] for r in log)
    assert "ApiError: 502 from ShipHero" in set(sent["error"].dropna())
    assert "after" in sent.columns and "before" in sent.columns

    at.text_input(key="order_ref").set_value("#nope").run()
    assert "No order '#nope'" in at.error[0].value


def test_corrections(built, console_at) -> None:
    at = console_at(built.url).switch_page("views/corrections.py").run()
    no_errors(at)
    shows_as_of(at, built)
    by_status = dict(sql(built.url, "select status, count(*) from ops.correction_log group by status"))
    assert {k: v for k, v in metrics(at).items()} == {k: str(v) for k, v in by_status.items()}
    counts = frame(at, "outbox_counts")
    assert sorted(counts.itertuples(index=False, name=None)) == sorted(
        sql(built.url, "select status, target, action, count(*) from ops.correction_log group by 1, 2, 3"))
    failed = frame(at, "failed_actions")
    assert list(failed["error"]) == ["ApiError: 502 from ShipHero"]
    expected = dict(((t, a), n) for t, a, n in sql(
        built.url, "select p.target_system, p.action, count(*) from marts.correction_plan as p"
                   " join ops.correction_log as l using (idempotency_key) where l.status = 'planned' group by 1, 2"))
    counts = frame(at, "planned_counts")
    assert {(r.target, r.action): r.actions for r in counts.itertuples()} == expected
    planned = frame(at, "planned_diffs")
    assert len(planned) == min(sum(expected.values()), 200) > 0
    assert {"before", "after"} <= set(planned.columns)
    refused = frame(at, "refused_runs")
    assert list(zip(refused["run_id"], refused["reason"], refused["actions"], strict=True)) == [
        ("push-refused", BREAKER, 3)]
    assert any(BREAKER in w.value for w in at.warning)


def test_processing_vs_fulfillment(built, console_at) -> None:
    at = console_at(built.url).switch_page("views/stages.py").run()
    no_errors(at)
    shows_as_of(at, built)
    stuck = dict(sql(built.url, "select current_stage, count(*) from marts.fct_order_stages where is_stuck"
                                " group by 1"))
    shown = {label.split(" (")[0]: int(value) for label, value in metrics(at).items()}
    assert shown == {"placed → sent to 3PL": stuck.get("placed", 0), "sent → shipped": stuck.get("sent_to_3pl", 0),
                     "shipped → delivered": stuck.get("shipped", 0)}
    daily = frame(at, "stage_daily")
    expected = dict(sql(built.url, "select stage, sum(orders) from marts.order_stage_daily group by 1"))
    assert daily.groupby("stage")["orders"].sum().to_dict() == expected
    # the lead times count every order that finished a stage, read from the order mart itself
    assert expected["sent_to_shipped"] == sql(
        built.url, "select count(*) from marts.fct_order_reconciliation where shipped_at is not null"
                   " and sent_to_3pl_at is not null")[0][0]
    cross = frame(at, "status_crosstab")
    pairs = sql(built.url, "select order_status, shipping_status, count(*) from marts.fct_order_reconciliation"
                           " group by 1, 2")
    for order_status, shipping_status, n in pairs:
        assert cross.loc[order_status, shipping_status] == n
    assert cross.to_numpy().sum() == sum(n for _, _, n in pairs)

    if stuck.get("sent_to_3pl"):
        at.selectbox(key="stuck_stage").set_value("sent_to_3pl").run()
        assert len(frame(at, "stuck_orders")) == stuck["sent_to_3pl"]


def test_inventory_and_payments(built, console_at) -> None:
    at = console_at(built.url).switch_page("views/inventory.py").run()
    no_errors(at)
    shows_as_of(at, built)
    skus = {s for (s,) in sql(built.url, "select sku from marts.fct_inventory_reconciliation where inventory_mismatch")}
    orphans = {p for (p,) in sql(built.url, "select payment_id from marts.fct_payment_reconciliation"
                                            " where orphan_payment")}
    assert metrics(at) == {"SKUs out of sync": str(len(skus)), "Orphan payments": str(len(orphans))}
    assert set(frame(at, "inventory")["sku"]) == skus
    assert set(frame(at, "orphans")["payment_id"]) == orphans


def test_data_quality(built, console_at) -> None:
    at = console_at(built.url).switch_page("views/quality.py").run()
    no_errors(at)
    shows_as_of(at, built)
    shown = metrics(at)
    assert shown["raw gate"] == "FAILED" and shown["marts gate"] == "passed"
    failed = frame(at, "failed_expectations")
    expected = sql(built.url, "select suite, expectation, observed_value::text from ops.quality_results"
                              " where run_id = 'reconcile-1' and not success")
    assert sorted(zip(failed["suite"], failed["expectation"], failed["observed_value"], strict=True)) == sorted(expected)
    assert ("raw", QUARANTINE, "1") in expected
    docs = [m.value for m in at.markdown if "Data Docs" in m.value]
    assert docs and str(built.data_docs / "index.html") in docs[0]
    quarantine = frame(at, "quarantine")
    assert list(quarantine["id"]) == [built.quarantine_id]
    assert {"source", "record_id", "field", "reason"} <= set(quarantine.columns)


def test_acknowledged_record_stops_failing_the_raw_gate(built, console_at, clone_of, tmp_path) -> None:
    url = clone_of(built.url)
    settings = GateSettings(data_docs_dir=tmp_path / "docs")
    at = console_at(url).switch_page("views/quality.py").run()
    at.text_input(key="ack_who").set_value("Ana Ops")
    at.text_input(key="ack_note").set_value("a test record")
    (submit,) = [b for b in at.button if b.label == "Acknowledge"]
    submit.click().run()
    no_errors(at)
    assert any("acknowledged by Ana Ops" in s.value for s in at.success)
    ((who, when),) = sql(url, "select acknowledged_by, acknowledged_at from ops.quarantine_acknowledgements"
                              " where quarantine_id = %s", (built.quarantine_id,))
    assert who == "Ana Ops" and when is not None

    passed = run_gate("raw", url, as_of=built.as_of, run_id="reconcile-2", settings=settings)
    assert passed.success

    # an hour later ingest quarantines a new bad record: the gate judging that run fails on it alone
    later = built.as_of + timedelta(hours=1)
    sql(url, "insert into ops.extraction_runs (run_id, source, stream, window_start, window_end, fetched, inserted,"
             " quarantined, requests, retries, started_at, finished_at, records_received)"
             " select distinct 'ingest-later', source, stream, %s::timestamptz, %s::timestamptz, 1, 0, 1, 1, 0,"
             " now(), now(), 1 from ops.extraction_runs", (built.as_of, later))
    sql(url, "insert into raw._quarantine (source, stream, record_id, field, reason, payload, run_id) values"
             " ('stripe', 'charges', 'ch_bad', 'currency', 'unknown currency ''ZZZ''', '{}', 'ingest-later')")
    with pytest.raises(QualityGateFailed) as failed:
        run_gate("raw", url, as_of=later, run_id="reconcile-3", settings=settings)
    assert {o.expectation: o.observed_value for o in failed.value.result.failures} == {QUARANTINE: 1}


def test_login_off_loopback(built, console_at) -> None:
    """Listening beyond loopback, the console shows nothing but its login until the password is given, and
    without a password set it shows nothing at all."""
    at = console_at(built.url, password="correct horse", address="0.0.0.0")
    assert not at.dataframe and not at.metric and not at.info
    at.text_input[0].set_value("Ana Ops")
    at.text_input[1].set_value("wrong")
    at.button[0].click().run()
    assert at.error and not at.dataframe
    at.text_input[1].set_value("correct horse")
    at.button[0].click().run()
    no_errors(at)
    assert at.dataframe and any("Logged in as Ana Ops" in c.value for c in at.sidebar.caption)

    refused = console_at(built.url, address="0.0.0.0")
    assert "SHIPSHAPE_CONSOLE_PASSWORD" in refused.error[0].value and not refused.dataframe
    assert not console_at(built.url, address="127.0.0.1").error
