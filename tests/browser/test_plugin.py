"""The shipshape plugin and the alerts, in `shipshape up`'s Airflow, through Debian's Chromium.

One deployment for the module (`browser_helpers.start_stack`, the code `make up` runs) whose Airflow is
told the console's address (`SHIPSHAPE_CONSOLE_URL`, as `make up` exports it) pointing at a tiny local
HTTP server standing in for the console, and whose alert connections point at a local SMTP server and
a recording HTTP server standing in for Slack (tests/conftest.py). Through the UI: the console is in the
navigation and opens inside Airflow's UI; a reconcile run's `as_of` task links to the console at that
run's as-of and to the Data Docs, which Airflow serves to logged-in users only. The run sends exactly one
digest on each channel, a cleared alerts task sends none, and no message holds a secret. Screenshots go
to `artifacts/browser/` (git-ignored).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from browser_helpers import shot, start_stack, wait_for

from shipshape.airflow_runtime import DagRunResult
from shipshape.up import Stack

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DAG = "shipshape_reconcile"


class ConsoleStandIn:
    """Answers every GET with a page naming the path and query it was asked for; keeps them in `seen`."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                stand_in.seen.append(self.path)
                body = (f"<html><head><title>shipshape console (stand-in)</title></head><body>"
                        f"<h1>shipshape console (stand-in)</h1><p id='asked'>asked for {self.path}</p>"
                        "</body></html>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def console() -> Iterator[ConsoleStandIn]:
    stand_in = ConsoleStandIn()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


@pytest.fixture(scope="module")
def stack(one_airflow_at_a_time, new_database, tmp_path_factory, console, smtp_server, webhook_server
          ) -> Iterator[Stack]:
    env = {"SHIPSHAPE_CONSOLE_URL": console.url,
           "AIRFLOW_CONN_SHIPSHAPE_ALERTS_SMTP": smtp_server.connection(to="ops@example.com"),
           "AIRFLOW_CONN_SHIPSHAPE_ALERTS_SLACK": webhook_server.connection()}
    with start_stack(new_database, tmp_path_factory, env) as up:
        yield up


@pytest.fixture(scope="module")
def reconciled(stack) -> DagRunResult:
    """The first reconcile run (started by the ingest run `make up` starts at once), alerts task included."""
    run = wait_for(stack, DAG, lambda r: r.run_type == "asset_triggered"
                   and r.tasks.get("alerts") in ("success", "failed"))
    assert run.state == "success", run.unsuccessful()
    assert run.tasks["alerts"] == "success", stack.airflow.diagnostics([run])
    return run


def as_of_of(stack: Stack, run_id: str) -> str:
    entry = stack.airflow._api(
        "GET", f"/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/as_of/xcomEntries/return_value")
    return entry["value"].strip('"')


def test_the_console_is_in_the_navigation_and_opens_inside_the_ui(page, stack, console):
    page.goto(stack.info["airflow_url"] + "/")
    nav = page.get_by_role("link", name="Console", exact=True)
    nav.wait_for()
    shot(page, "20-nav-console")
    nav.click()
    page.wait_for_url("**/plugin/shipshape-console")
    frame = page.frame_locator("iframe[title='Console']")
    frame.get_by_text("shipshape console (stand-in)").first.wait_for()
    assert page.locator("iframe[title='Console']").get_attribute("src") == console.url + "/"
    assert "/" in console.seen
    shot(page, "21-console-in-airflow")
    assert page.get_by_role("link", name="Data Docs", exact=True).count() == 1  # in the navigation too


def test_a_reconcile_run_links_to_the_console_at_its_as_of_and_to_the_data_docs(page, stack, console, reconciled):
    as_of = as_of_of(stack, reconciled.run_id)
    from shipshape.links import iso
    from shipshape.reconcile.as_of import parse_moment

    wanted = f"{console.url}/?{urllib.parse.urlencode({'as_of': iso(parse_moment(as_of))})}"
    page.goto(f"{stack.info['airflow_url']}/dags/{DAG}/runs/{urllib.parse.quote(reconciled.run_id)}/tasks/as_of/details")
    page.get_by_text("Extra Links").first.wait_for()
    to_console = page.get_by_role("link", name="Console at as-of")
    to_docs = page.locator('a[href="/shipshape/data-docs/index.html"]')  # the navigation's goes to /plugin/…
    assert to_console.get_attribute("href") == wanted
    assert to_docs.inner_text() == "Data Docs"
    shot(page, "22-run-links")

    with page.context.expect_page() as opened:  # another site: a new tab
        to_console.click()
    tab = opened.value
    tab.get_by_text(f"asked for /?{urllib.parse.urlencode({'as_of': iso(parse_moment(as_of))})}").wait_for()
    shot(tab, "23-console-at-run-as-of")
    tab.close()

    to_docs.click()  # same site: this tab
    page.wait_for_url("**/shipshape/data-docs/index.html")
    assert page.title() == "Data Docs created by Great Expectations"
    # the site lists this run's marts validations (its table is drawn by a script from a CDN, which a
    # closed network does not reach: the page as served holds the data all the same). Each gate rebuilds
    # the index from its own ephemeral GX context, so it lists the latest gate's validations only.
    served = page.context.request.get(page.url).text()  # with the page's login
    assert f"marts:{reconciled.run_id}" in served
    shot(page, "24-data-docs")
    # not for anonymous visitors
    anonymous = httpx.get(f"{stack.info['airflow_url']}/shipshape/data-docs/index.html", timeout=30)
    assert anonymous.status_code in (401, 403)


def test_the_run_sends_one_digest_per_channel_and_a_cleared_alerts_task_none(stack, reconciled, smtp_server,
                                                                              webhook_server):
    run_id = reconciled.run_id
    mails = [m for m in smtp_server.messages if run_id in m["Subject"]]
    posts = [p for p in webhook_server.posts if run_id in p["body"]["text"]]
    assert len(mails) == 1 and len(posts) == 1, (len(mails), len(posts))
    assert "new high-severity mismatch" in mails[0]["Subject"]
    as_of = as_of_of(stack, run_id)
    from shipshape.links import iso
    from shipshape.reconcile.as_of import parse_moment

    assert urllib.parse.urlencode({"as_of": iso(parse_moment(as_of))}) in posts[0]["body"]["text"]

    # clearing the alerts task runs it again: the run's digest is not sent twice
    stack.airflow._api("POST", f"/dags/{DAG}/clearTaskInstances",
                       json={"dry_run": False, "task_ids": ["alerts"], "dag_run_id": run_id, "only_failed": False,
                             "reset_dag_runs": True})
    again = wait_for(stack, DAG, lambda r: r.run_id == run_id and r.tries.get("alerts", 0) >= 2
                     and r.tasks.get("alerts") in ("success", "failed"))
    assert again.tasks["alerts"] == "success", stack.airflow.diagnostics([again])
    assert len([m for m in smtp_server.messages if run_id in m["Subject"]]) == 1
    assert len([p for p in webhook_server.posts if run_id in p["body"]["text"]]) == 1
    # no run had two digests, and no message holds a secret
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert len(subjects) == len(set(subjects))
    secrets = ["smtp-pass-9f3Kq2Lw", webhook_server.token, stack.info["airflow_password"]]
    for body in [*smtp_server.texts(), *(repr(p["body"]) for p in webhook_server.posts)]:
        assert not [s for s in secrets if s in body]
        assert "postgresql://" not in body
