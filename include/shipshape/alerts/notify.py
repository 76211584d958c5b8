"""Sending a run's digest: through Airflow's notifiers, on the channels Airflow connections configure.

| channel | connection (setting that renames it) | notifier |
|---|---|---|
| e-mail | `shipshape_alerts_smtp` (`SHIPSHAPE_ALERTS_SMTP_CONN_ID`): an SMTP connection; its extra's `to` (one address, a comma-separated list or a JSON list) says who gets it, `from_email` who sends it | the SMTP provider's `SmtpNotifier` |
| Slack | `shipshape_alerts_slack` (`SHIPSHAPE_ALERTS_SLACK_CONN_ID`): a Slack incoming-webhook connection (the webhook's token as password; host `https://hooks.slack.com/services` or any other endpoint) | the Slack provider's `SlackWebhookNotifier` |

A channel whose connection does not exist is off: nothing is sent there and the log says so once (per
process). With no channel configured, the run is still recorded (`shipshape.alerts.store`), so that the
first digest after one is configured starts where the last run left off.

`DigestNotifier` is the `BaseNotifier` the reconcile DAG calls after each run (its `alerts` task);
`send_digest` is the same without Airflow's context, for tests and the CLI.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from airflow.sdk import BaseNotifier

from shipshape.alerts import store
from shipshape.alerts.digest import build_digest
from shipshape.secrets import redact

log = logging.getLogger(__name__)

SMTP_CONN_ENV = "SHIPSHAPE_ALERTS_SMTP_CONN_ID"
SLACK_CONN_ENV = "SHIPSHAPE_ALERTS_SLACK_CONN_ID"
DEFAULT_SMTP_CONN = "shipshape_alerts_smtp"
DEFAULT_SLACK_CONN = "shipshape_alerts_slack"
DEFAULT_FROM = "shipshape@localhost"

_said_off: set[str] = set()  # connections already reported missing by this process


@dataclass(frozen=True)
class AlertSettings:
    smtp_conn_id: str = DEFAULT_SMTP_CONN
    slack_conn_id: str = DEFAULT_SLACK_CONN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertSettings:
        env = os.environ if env is None else env
        return cls(smtp_conn_id=env.get(SMTP_CONN_ENV) or DEFAULT_SMTP_CONN,
                   slack_conn_id=env.get(SLACK_CONN_ENV) or DEFAULT_SLACK_CONN)


def _connection(conn_id: str):
    """The connection, or None (logged once) when it does not exist."""
    from shipshape.connections import get_connection

    try:
        return get_connection(conn_id)
    except LookupError:
        if conn_id not in _said_off:
            _said_off.add(conn_id)
            log.info("no Airflow connection %r: alerts on that channel are off", conn_id)
        return None


def _recipients(value: Any) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value or [] if isinstance(v, str) and v.strip()]


def _slack_text(text: str) -> str:
    """Slack reads `&`, `<` and `>` as markup: escape them as its API asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send_email(conn_id: str, extra: Mapping[str, Any], subject: str, text: str, html: str,
                context: Mapping[str, Any]) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = _recipients(extra.get("to"))
    if not to:
        raise ValueError(f"connection {conn_id!r} has no recipients: put them in its extra as \"to\"")
    # called with notify(), not the notifier's __call__: the digest is text from the warehouse, and Jinja
    # must not read an order's `{#…` or `{{` as a template
    SmtpNotifier(to=to, from_email=extra.get("from_email") or DEFAULT_FROM, subject=subject, html_content=html,
                 smtp_conn_id=conn_id).notify(context)


def _send_slack(conn_id: str, extra: Mapping[str, Any], subject: str, text: str, html: str,
                context: Mapping[str, Any]) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=_slack_text(text), unfurl_links=False,
                         unfurl_media=False).notify(context)


@dataclass
class Outcome:
    """What `send_digest` did for one run."""

    has_news: bool
    sent: list[str] = field(default_factory=list)  # channels the digest went to now
    already: list[str] = field(default_factory=list)  # channels an earlier attempt had claimed
    off: list[str] = field(default_factory=list)  # channels with no connection

    def as_dict(self) -> dict[str, Any]:
        return {"has_news": self.has_news, "sent": self.sent, "already": self.already, "off": self.off}


def send_digest(warehouse_url: str, *, dag_id: str, run_id: str, as_of: datetime | None,
                failed_tasks: Iterable[str] = (), settings: AlertSettings | None = None,
                context: Mapping[str, Any] | None = None) -> Outcome:
    """Build (or reuse) the run's digest and send it, once, on every configured channel that has not
    had it. Raises after trying every channel if one failed (its claim released for the next attempt)."""
    settings = settings or AlertSettings.from_env()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        store.ensure(conn)
        digest = store.recorded(conn, dag_id, run_id)
        if digest is None:
            since = store.previous_as_of(conn, dag_id, run_id)
            built = build_digest(conn, dag_id=dag_id, run_id=run_id, as_of=as_of, since=since,
                                 failed_tasks=failed_tasks)
            digest = store.record(conn, dag_id, run_id, as_of=as_of, since=since, has_news=built.has_news,
                                  subject=built.subject, text=built.text(), html=built.html())
        outcome = Outcome(has_news=digest.has_news)
        if not digest.has_news:
            log.info("%s %s: nothing needs a person; no digest sent", dag_id, run_id)
            return outcome
        log.info("%s %s digest: %s", dag_id, run_id, digest.subject)
        errors = []
        for channel, conn_id, send in (("email", settings.smtp_conn_id, _send_email),
                                       ("slack", settings.slack_conn_id, _send_slack)):
            connection = _connection(conn_id)
            if connection is None:
                outcome.off.append(channel)
                continue
            found = store.claim(conn, dag_id, run_id, channel)
            if found is not None:
                outcome.already.append(channel)
                log.info("%s: the digest of %s was %s by an earlier attempt; not sent again", channel, run_id,
                         "sent" if found == "sent" else "being sent (outcome unknown)")
                continue
            try:
                send(conn_id, connection.extra, digest.subject, digest.text, digest.html, context or {})
            except Exception as exc:  # noqa: BLE001 - try the other channel, then fail the task
                store.release(conn, dag_id, run_id, channel)
                reason = redact(str(exc))  # a provider's error may quote the endpoint, token and all
                log.error("%s: sending the digest through connection %r failed: %s", channel, conn_id, reason)
                errors.append(f"{channel}: {reason}")
                continue
            store.mark_sent(conn, dag_id, run_id, channel)
            outcome.sent.append(channel)
            log.info("%s: digest sent through connection %r", channel, conn_id)
    if errors:
        raise RuntimeError("the digest could not be sent on every channel: " + "; ".join(errors))
    return outcome


class DigestNotifier(BaseNotifier):
    """Airflow's notifier for a reconcile run's digest: `DigestNotifier()(context)` from a task of the run.

    Reads the run's as-of from the `as_of` task's XCom and the run's failed tasks from Airflow, then
    `send_digest`. No template fields: nothing in it is a Jinja template."""

    template_fields = ()
    outcome: Outcome | None = None  # what the last notify() did

    def __init__(self, *, warehouse_url: str | None = None, settings: AlertSettings | None = None,
                 as_of_task: str = "as_of") -> None:
        super().__init__()
        self.warehouse_url = warehouse_url
        self.settings = settings
        self.as_of_task = as_of_task

    def notify(self, context: Any) -> None:
        from shipshape import warehouse
        from shipshape.reconcile.as_of import parse_moment

        ti = context["ti"]
        dag_id, run_id = ti.dag_id, ti.run_id
        as_of = parse_moment(ti.xcom_pull(task_ids=self.as_of_task))
        self.outcome = send_digest(self.warehouse_url or warehouse.url(), dag_id=dag_id, run_id=run_id, as_of=as_of,
                                   failed_tasks=self._failed_tasks(ti), settings=self.settings, context=context)

    @staticmethod
    def _failed_tasks(ti: Any) -> list[str]:
        """The run's tasks that failed (not those that only did not run because of them)."""
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        except Exception as exc:  # noqa: BLE001 - the digest is still worth sending without them
            log.warning("could not read the run's task states: %s", exc)
            return []
        return sorted(task for task, state in states.items() if state == "failed" and task != ti.task_id)
