"""The reconcile run's alert digest, in a real Postgres, sent through the real SMTP and Slack notifiers to
a local SMTP server and a recording HTTP server (tests/conftest.py).

The rows are written by the code that writes them in a run (the outbox's functions, the gate's store),
except `marts.mismatch_history`, a dbt model, which is created here with the model's own columns (checked
against its schema file) and filled by hand, as the corrections tests do with the plan: building it with
dbt takes minutes. tests/browser/test_airflow_ui.py sees the digest of a real reconcile run.

* a run with something to say: exactly one message on each configured channel, holding no secret;
* a second delivery attempt for the same run (a retry, a clear): nothing more;
* a run with nothing new: nothing; a run with no channel configured: nothing, and no error;
* a channel that fails is retried by the next attempt, the other is not sent twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from shipshape import warehouse
from shipshape.alerts import store
from shipshape.alerts.digest import build_digest
from shipshape.corrections import outbox
from shipshape.corrections.plan import Action
from shipshape.quality import store as quality_store
from shipshape.secrets import register_secret

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
T1, T2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
DAG = "shipshape_reconcile"
ENV = {"SHIPSHAPE_CONSOLE_URL": "http://console.test:8501", "AIRFLOW__API__BASE_URL": "http://airflow.test:8080"}

HISTORY_COLUMNS = {
    "episode_id": "text", "entity_type": "text", "entity_id": "text", "shopify_order_id": "bigint",
    "order_name": "text", "code": "text", "severity": "text", "currency": "text", "amount_at_risk": "numeric",
    "first_seen_at": "timestamptz", "last_seen_at": "timestamptz", "resolved_at": "timestamptz",
    "is_open": "boolean",
}


def model_columns(model: str) -> set[str]:
    spec = yaml.safe_load((REPO / "dbt_project/models/marts/_marts__history_and_plan.yml").read_text())
    return {c["name"] for m in spec["models"] if m["name"] == model for c in m["columns"]}


def test_the_hand_made_history_has_the_models_columns():
    assert set(HISTORY_COLUMNS) == model_columns("mismatch_history")


def episode(code: str, severity: str, order: int, first: datetime, resolved: datetime | None = None,
            amount: float = 50.0) -> tuple:
    return (f"{code}-{order}-{first:%H}", "order", str(order), order, f"#{order}", code, severity, "USD", amount,
            first, resolved or first, resolved, resolved is None)


def write_history(url: str, episodes: list[tuple]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in HISTORY_COLUMNS.items())
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"drop table if exists marts.mismatch_history; create table marts.mismatch_history ({columns})")
        conn.cursor().executemany(f"insert into marts.mismatch_history values ({', '.join(['%s'] * 13)})", episodes)


def action(i: int) -> Action:
    return Action(action_id=f"shiphero:order:{i}:order_create", target_system="shiphero", target_object="order",
                  target_object_id=str(i), action="order_create", api_operation="order_create",
                  payload={"partner_order_id": str(i)}, before_state=None, mismatch_codes=("MISSING_IN_3PL",),
                  severity="high", shopify_order_id=i, order_name=f"#{i}", sku=None, idempotency_key=f"key-{i}")


def write_outbox(url: str, *, run_id: str, failed: list[int], refused: list[int], error: str = "HTTP 502") -> None:
    """As a push records them: the plan synced, then attempts that failed, or the breaker's refusal."""
    with psycopg.connect(url, autocommit=True) as conn:
        outbox.ensure(conn)
        # the plan still asks for what earlier runs recorded (else sync would supersede it)
        earlier = [int(k.removeprefix("key-")) for (k,) in conn.execute(f"select idempotency_key from {outbox.TABLE}")]
        outbox.sync(conn, [action(i) for i in sorted(set(earlier + failed + refused))], run_id)
        for i in failed:
            outbox.mark_sending(conn, f"key-{i}", run_id, T1)
            outbox.mark_failed(conn, f"key-{i}", error, None, T1 + timedelta(minutes=5))
        if refused:
            outbox.mark_refused(conn, [f"key-{i}" for i in refused], run_id, "circuit breaker: 60 actions exceed 50")


def write_gate(url: str, *, run_id: str, suite: str, as_of: datetime, failures: int) -> None:
    results = [{"expectation": f"{suite}.check_{i}", "asset": "marts.fct_order_reconciliation",
                "expectation_type": "expect_x", "success": i >= failures, "observed_value": {"count": i},
                "details": {}} for i in range(3)]
    with psycopg.connect(url) as conn:
        quality_store.ensure_tables(conn)
        quality_store.save_results(conn, run_id=run_id, suite=suite, as_of=as_of, success=failures == 0,
                                   results=results, data_docs=None, started_at=as_of, finished_at=as_of)


@pytest.fixture
def wh(fresh_database: str) -> str:
    """A bootstrapped warehouse whose history has run 1's episodes (as of T1): two new high ones, a medium
    one, and a high one resolved at T1."""
    warehouse.bootstrap(fresh_database)
    write_history(fresh_database, [
        episode("MISSING_IN_3PL", "high", 1001, T1, amount=120.0),
        episode("ADDRESS_MISMATCH", "high", 1002, T1),
        episode("AMOUNT_MISMATCH", "medium", 1003, T1),
        episode("SHIPPED_UNPAID", "high", 1004, T0, resolved=T1),
    ])
    return fresh_database


def digest_of(url: str, run_id: str, as_of: datetime | None, since: datetime | None, **kw):
    with psycopg.connect(url) as conn:
        return build_digest(conn, dag_id=DAG, run_id=run_id, as_of=as_of, since=since, env=ENV, **kw)


def test_the_digest_tells_what_is_new_what_failed_and_links_to_the_console_at_the_as_of(wh):
    write_outbox(wh, run_id="run-1", failed=[7, 8], refused=[])
    write_outbox(wh, run_id="run-0", failed=[9], refused=[])  # another run's failure is that run's news
    write_gate(wh, run_id="run-1", suite="marts", as_of=T1, failures=2)
    write_gate(wh, run_id="run-1", suite="raw", as_of=T1, failures=0)
    d = digest_of(wh, "run-1", T1, since=None, failed_tasks=["dbt.fct_order_reconciliation_run"])
    assert d.has_news
    assert d.new_high_total == 2 and dict(d.new_high_by_code) == {"MISSING_IN_3PL": 1, "ADDRESS_MISMATCH": 1}
    assert [m.entity for m in d.new_high] == ["#1001", "#1002"]  # most money at risk first
    assert d.corrections_by_status == {"failed": 2, "refused": 0}
    assert [(g.suite, g.failed, g.evaluated) for g in d.gates] == [("marts", 2, 3)]
    text = d.text()
    assert "2 new high-severity mismatches" in text and "#1001 MISSING_IN_3PL (USD 120.00 at risk)" in text
    assert "AMOUNT_MISMATCH" not in text and "SHIPPED_UNPAID" not in text and "#9" not in text
    assert "marts gate: 2 of 3 expectations failed (marts.check_0: observed" in text
    assert "failed: shiphero order_create #7: HTTP 502" in text
    assert "Console: http://console.test:8501/?as_of=2026-11-01T11%3A00%3A00Z" in text
    assert "Data Docs: http://airflow.test:8080/shipshape/data-docs/index.html" in text
    assert "Run: http://airflow.test:8080/dags/shipshape_reconcile/runs/run-1" in text
    assert d.subject == ("shipshape: 2 new high-severity mismatches, 2 corrections failed, quality gate failed"
                         " (marts), 1 task failed (shipshape_reconcile run-1)")
    assert '<a href="http://console.test:8501/?as_of=2026-11-01T11%3A00%3A00Z">Console</a>' in d.html()


def test_new_means_first_seen_since_the_previous_run_and_a_refusal_is_news(wh):
    with psycopg.connect(wh) as conn:
        conn.execute("insert into marts.mismatch_history values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     episode("CANCELLED_NOT_IN_3PL", "high", 1005, T2))
    later = digest_of(wh, "run-2", T2, since=T1)
    assert later.new_high_total == 1 and later.new_high[0].entity == "#1005"
    assert not digest_of(wh, "run-1b", T1, since=T1).has_news  # another run at the same as-of: nothing new
    write_outbox(wh, run_id="run-3", failed=[], refused=[11, 12, 13])
    refused = digest_of(wh, "run-3", T2, since=T2)
    assert refused.has_news and refused.corrections_by_status == {"failed": 0, "refused": 3}
    assert "refused: shiphero order_create #11: circuit breaker: 60 actions exceed 50" in refused.text()
    # a run that failed before resolving its as-of still says which task failed, and judges no mismatch
    early = digest_of(wh, "run-4", None, since=T2, failed_tasks=["as_of"])
    assert early.has_news and early.new_high_total == 0 and "as_of" in early.text()


def test_no_secret_reaches_the_digest(wh):
    secret = "sk_live_digest_secret_1234"
    register_secret(secret)
    write_outbox(wh, run_id="run-1", failed=[7], refused=[])
    with psycopg.connect(wh) as conn:  # as if a writer's error had quoted it, past the outbox's own masking
        conn.execute("update ops.correction_log set error = %s", (f"401 for key {secret}",))
    d = digest_of(wh, "run-1", T1, since=None)
    assert "401 for key ***" in d.text()
    assert all(secret not in body for body in (d.text(), d.html(), d.subject))


# ------------------------------------------------------------------------------------------ delivery
@pytest.fixture
def channels(monkeypatch, smtp_server, webhook_server):
    """Both alert connections, pointing at the local stand-ins."""
    from shipshape.alerts import notify

    smtp_server.messages.clear()
    webhook_server.posts.clear()
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_ALERTS_SMTP",
                       smtp_server.connection(to="ops@example.com, oncall@example.com", from_email="shipshape@example.com"))
    monkeypatch.setenv("AIRFLOW_CONN_SHIPSHAPE_ALERTS_SLACK", webhook_server.connection())
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(notify, "_said_off", set())
    return smtp_server, webhook_server


def test_one_digest_per_run_on_each_channel_and_none_when_nothing_is_new(wh, channels):
    from shipshape.alerts.notify import send_digest

    smtp, slack = channels
    write_outbox(wh, run_id="run-1", failed=[7], refused=[])
    first = send_digest(wh, dag_id=DAG, run_id="run-1", as_of=T1)
    assert first.sent == ["email", "slack"] and first.has_news
    assert len(smtp.messages) == 1 and len(slack.posts) == 1
    mail, post = smtp.messages[0], slack.posts[0]
    assert mail.rcpt == ["ops@example.com", "oncall@example.com"] and mail["From"] == "shipshape@example.com"
    assert mail["Subject"].startswith("shipshape: 2 new high-severity mismatches, 1 correction failed")
    assert post["path"] == f"/services/{slack.token}"  # the provider's hook, at the connection's host
    assert "#1001 MISSING_IN_3PL" in post["body"]["text"] and "#1001 MISSING_IN_3PL" in smtp.texts()[0]
    assert "as_of=2026-11-01T11%3A00%3A00Z" in post["body"]["text"]
    assert smtp.logins and smtp.password in smtp.logins[0]  # the connection's credentials were used...
    for body in [*smtp.texts(), *(repr(p["body"]) for p in slack.posts)]:  # ...and are in no message
        assert smtp.password not in body and "slack-token-Zx81Qp" not in body
        assert "postgresql://" not in body and wh not in body

    # a retry or a clear of the same run: nothing more
    again = send_digest(wh, dag_id=DAG, run_id="run-1", as_of=T1)
    assert again.sent == [] and again.already == ["email", "slack"]
    assert len(smtp.messages) == 1 and len(slack.posts) == 1

    # the next run at the same as-of, with nothing new and nothing failed: nothing
    quiet = send_digest(wh, dag_id=DAG, run_id="run-2", as_of=T1)
    assert not quiet.has_news and quiet.sent == []
    assert len(smtp.messages) == 1 and len(slack.posts) == 1
    with psycopg.connect(wh) as conn:
        assert store.previous_as_of(conn, DAG, "run-3") == T1  # both runs recorded
        assert conn.execute("select count(*) from ops.alert_deliveries where status = 'sent'").fetchone()[0] == 2


def test_no_connection_sends_nothing_says_so_once_and_raises_nothing(wh, channels, monkeypatch, caplog):
    from shipshape.alerts.notify import send_digest

    smtp, slack = channels
    monkeypatch.delenv("AIRFLOW_CONN_SHIPSHAPE_ALERTS_SMTP")
    monkeypatch.delenv("AIRFLOW_CONN_SHIPSHAPE_ALERTS_SLACK")
    caplog.set_level(logging.INFO, logger="shipshape.alerts.notify")
    write_outbox(wh, run_id="run-1", failed=[7], refused=[])
    write_outbox(wh, run_id="run-2", failed=[8], refused=[])
    for run_id, as_of in (("run-1", T1), ("run-2", T2)):
        outcome = send_digest(wh, dag_id=DAG, run_id=run_id, as_of=as_of)
        assert outcome.has_news and outcome.sent == [] and outcome.off == ["email", "slack"]
    assert smtp.messages == [] and slack.posts == []
    said = [r.getMessage() for r in caplog.records if "alerts on that channel are off" in r.getMessage()]
    assert said == ["no Airflow connection 'shipshape_alerts_smtp': alerts on that channel are off",
                    "no Airflow connection 'shipshape_alerts_slack': alerts on that channel are off"]


def test_a_channel_that_failed_is_sent_by_the_next_attempt_and_the_other_is_not_repeated(wh, channels):
    from shipshape.alerts.notify import send_digest

    smtp, slack = channels
    slack.fail = True
    try:
        with pytest.raises(RuntimeError, match="slack"):
            send_digest(wh, dag_id=DAG, run_id="run-1", as_of=T1)
    finally:
        slack.fail = False
    assert len(smtp.messages) == 1 and slack.posts == []
    retry = send_digest(wh, dag_id=DAG, run_id="run-1", as_of=T1)
    assert retry.sent == ["slack"] and retry.already == ["email"]
    assert len(smtp.messages) == 1 and len(slack.posts) == 1
    assert "#1001 MISSING_IN_3PL" in slack.posts[0]["body"]["text"] and "#1001 MISSING_IN_3PL" in smtp.texts()[0]
