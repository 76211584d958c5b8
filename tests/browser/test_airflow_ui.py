"""What people see: `shipshape up`'s Airflow, in a real Chromium (Debian's, driven by Playwright).

One deployment for the module (`shipshape.up.Stack`, the code `make up` runs) on free ports, with a small
live sandbox and a fresh warehouse and metadata database on the test server; corrections are dry runs
(`SHIPSHAPE_APPLY_CORRECTIONS=false`) so the plan stays to be looked at. Through the UI: log in; see both
DAGs with their owner and tags and no import error; trigger `shipshape_ingest` and see
`shipshape_reconcile` start on its Assets and both succeed; trigger a reconcile choosing "Dry run" in its
form and see its plan recorded as planned; create a 3-hour backfill of ingest from the dialog and see
its three runs succeed, read exactly those hours and lose no stored version.

The shipshape plugin and the alerts, on the same deployment: its real console (the Streamlit app `make up`
starts; Airflow is told its address as `make up` tells it) is in the navigation and opens inside Airflow's
UI; a reconcile run's `as_of` task links to the console at that run's as-of, which shows that as-of, and to
the Data Docs, which Airflow serves to logged-in users only. The alert connections point at a local SMTP
server and a recording HTTP server standing in for Slack (tests/conftest.py): a run sends exactly one
digest on each channel, a cleared alerts task sends none, and no message holds a secret.

Screenshots go to `artifacts/browser/` (git-ignored); the README shows two of them (docs/img/).
"""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from browser_helpers import RUN_TIMEOUT, idle, shot, trigger_from_form, wait_for

from shipshape.airflow_runtime import DagRunResult
from shipshape.console import END_MARKER, RENDERED_JS
from shipshape.up import Stack

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def raw_versions(url: str) -> set[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("select table_name from information_schema.tables"
                                             " where table_schema = 'raw' and table_name not like '\\_%'")]
        return {(t, *row) for t in tables
                for row in conn.execute(f'select source_id, payload_hash from raw."{t}"').fetchall()}


def test_both_dags_are_listed_with_owner_tags_and_no_import_error(page, stack):
    page.goto(stack.info["airflow_url"] + "/dags")
    for dag_id in ("shipshape_ingest", "shipshape_reconcile"):
        page.get_by_role("link", name=dag_id, exact=True).wait_for()
    assert page.get_by_text("Dag Import Errors").count() == 0
    shot(page, "02-dags")
    page.goto(stack.info["airflow_url"] + "/dags/shipshape_reconcile")
    page.get_by_role("link", name="as_of", exact=True).wait_for()  # the first task
    links = [link.inner_text() for link in page.get_by_role("link").all()]
    assert {"shipshape", "reconcile", "dbt"} <= set(links), links  # the owner and the tags
    assert "dbt" in links and "push_corrections" in links
    page.get_by_role("button", name="Dag Docs").click()  # doc_md, readable
    page.get_by_role("dialog").get_by_text("shipshape_reconcile: dbt over the raw tables").wait_for()
    shot(page, "03-reconcile-docs")
    page.get_by_role("dialog").press("Escape")


def test_triggering_ingest_starts_reconcile_on_its_assets_and_both_succeed(page, stack):
    started = datetime.now(UTC)
    trigger_from_form(page, stack, "shipshape_ingest")
    shot(page, "04-trigger-ingest")
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
    page.get_by_role("dialog").wait_for(state="detached")
    idle(page)
    ingest = wait_for(stack, "shipshape_ingest", lambda r: r.run_type == "manual")
    assert ingest.state == "success", ingest.unsuccessful()
    reconcile = wait_for(stack, "shipshape_reconcile",
                         lambda r: r.run_type == "asset_triggered" and r.start_date and r.start_date >= started - timedelta(minutes=5))
    assert reconcile.state == "success" and not reconcile.unsuccessful(), reconcile.unsuccessful()
    page.goto(f"{stack.info['airflow_url']}/dags/shipshape_reconcile/runs/{urllib.parse.quote(reconcile.run_id)}")
    page.get_by_text("Asset Triggered").first.wait_for()  # the run's type, as the UI names it
    page.get_by_role("table").get_by_text("push_corrections").first.wait_for()  # its task instances listed
    shot(page, "05-reconcile-run")


def test_a_dry_run_chosen_in_the_trigger_form_records_the_plan_as_planned(page, stack):
    trigger_from_form(page, stack, "shipshape_reconcile")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Apply corrections?").wait_for()
    dialog.get_by_text("The deployment's rule (sandbox: apply)").wait_for()  # the default choice
    dialog.get_by_role("combobox").click()
    options = [option.inner_text() for option in page.get_by_role("option").all()]
    assert options == ["The deployment's rule (sandbox: apply)", "Apply: send the corrections",
                       "Dry run: record the plan for review"], options  # three choices, not a toggle
    page.get_by_role("option", name="Dry run: record the plan for review").click()
    shot(page, "06-trigger-reconcile-dry-run")
    dialog.get_by_role("button", name="Trigger").click()
    dialog.wait_for(state="detached")
    idle(page)
    run = wait_for(stack, "shipshape_reconcile", lambda r: r.run_type == "manual")
    assert run.state == "success", run.unsuccessful()
    assert run.conf.get("apply") == "dry_run", run.conf
    url = stack.airflow.extra_env["AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE"]
    with psycopg.connect(url) as conn:
        statuses = dict(conn.execute("select status, count(*) from ops.correction_log group by 1").fetchall())
        plan = conn.execute("select count(*) from marts.correction_plan").fetchone()[0]
    # every action of the plan recorded as planned and none sent; an earlier run's pending action that this
    # plan no longer asks for (the live sandbox moved on) is superseded, not sent either
    assert plan > 0 and statuses.get("planned") == plan, (plan, statuses)
    assert set(statuses) <= {"planned", "superseded"}, statuses
    page.goto(f"{stack.info['airflow_url']}/dags/shipshape_reconcile/runs/{urllib.parse.quote(run.run_id)}"
              "/tasks/push_corrections")
    # the task log says what it did and why
    page.get_by_text(f"push_corrections {run.run_id}: run parameter apply=False").first.wait_for(timeout=60_000)
    page.get_by_text("correction plan (dry run: nothing is sent)").first.wait_for()
    shot(page, "07-push-dry-run-log")


def test_a_three_hour_backfill_from_the_dialog_reads_those_hours_and_loses_nothing(page, stack):
    url = stack.airflow.extra_env["AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE"]
    wait_for(stack, "shipshape_ingest", lambda r: r.run_type != "backfill")  # the scheduled load is in
    while any(not r.finished for r in stack.airflow.runs("shipshape_ingest")):
        time.sleep(3)
    before = raw_versions(url)
    # three hourly runs (logical dates first..last) before any run the schedule made, so the dialog's
    # "missing runs" are all three whatever hour it is now
    scheduled_slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    earliest = min([scheduled_slot, *(r.data_interval_start for r in stack.airflow.runs("shipshape_ingest")
                                      if r.data_interval_start)])
    first, last = earliest - timedelta(hours=4), earliest - timedelta(hours=2)
    trigger_from_form(page, stack, "shipshape_ingest")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Backfill", exact=True).click()
    dialog.locator("input[name=from_date]").fill(first.strftime("%Y-%m-%dT%H:%M"))
    dialog.locator("input[name=to_date]").fill(last.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_text("3 runs will be triggered.").wait_for()
    shot(page, "08-backfill-dialog")
    dialog.get_by_role("button", name="Run Backfill").click()
    dialog.wait_for(state="detached")
    idle(page)
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        runs = [r for r in stack.airflow.runs("shipshape_ingest") if r.run_type == "backfill"]
        if len(runs) == 3 and all(r.finished for r in runs):
            break
        time.sleep(5)
    assert len(runs) == 3 and all(r.state == "success" for r in runs), [r.summary() for r in runs]
    assert sorted(r.data_interval_start for r in runs) == [first, first + timedelta(hours=1), last]
    page.goto(f"{stack.info['airflow_url']}/dags/shipshape_ingest/backfills")
    page.get_by_text("Backfills").first.wait_for()
    shot(page, "09-backfill-runs")
    # keyed loads: nothing the scheduled runs stored is lost or doubled; what the backfill adds can only be
    # a newer state of a record (the live sandbox moved on since the first load)
    assert before <= raw_versions(url)
    with psycopg.connect(url) as conn:
        windows = {r[0] for r in conn.execute(
            "select distinct window_end from ops.extraction_runs where run_id = any(%s)",
            ([r.run_id for r in runs],)).fetchall()}
    assert windows == {first + timedelta(hours=1), first + timedelta(hours=2), last + timedelta(hours=1)}


def test_no_task_log_holds_a_secret(stack, smtp_server, webhook_server):
    """Every task log of the runs above, and every process log: not one credential of the sandbox's APIs,
    nor the admin's password, nor the alert channels' password and token."""
    credentials = httpx.get(f"{stack.info['sandbox_url']}/_sandbox/credentials", timeout=10).json()
    secrets = {v for api in credentials.values() for k, v in api.items()
               if isinstance(v, str) and len(v) >= 8 and k not in ("username", "client_id")}
    secrets |= {stack.info["airflow_password"], smtp_server.password, webhook_server.token}
    logs = list(stack.airflow.task_log_dir.rglob("*.log")) + list(stack.airflow.process_log_dir.glob("*.log"))
    assert len(logs) > 50, "the runs above wrote their task logs"
    leaks = [(path.name, s[:4] + "…") for path in logs for s in secrets if s in path.read_text(errors="replace")]
    assert not leaks, leaks


# ---- the shipshape plugin and the alerts, on the same deployment

DAG = "shipshape_reconcile"


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


def test_the_console_is_in_the_navigation_and_opens_inside_the_ui(page, stack):
    console_url = stack.info["console_url"]
    page.goto(stack.info["airflow_url"] + "/")
    nav = page.get_by_role("link", name="Console", exact=True)
    nav.wait_for()
    shot(page, "20-nav-console")
    nav.click()
    page.wait_for_url("**/plugin/shipshape-console")
    assert page.locator("iframe[title='Console']").get_attribute("src") == console_url + "/"
    frame = page.frame_locator("iframe[title='Console']")
    frame.get_by_role("heading", name="Overview").first.wait_for()  # the real console's first page, drawn
    frame.locator(f"#{END_MARKER}").wait_for(state="attached")
    shot(page, "21-console-in-airflow")
    assert page.get_by_role("link", name="Data Docs", exact=True).count() == 1  # in the navigation too


def test_a_reconcile_run_links_to_the_console_at_its_as_of_and_to_the_data_docs(page, stack, reconciled):
    as_of = as_of_of(stack, reconciled.run_id)
    from shipshape.links import iso
    from shipshape.reconcile.as_of import parse_moment

    wanted = f"{stack.info['console_url']}/?{urllib.parse.urlencode({'as_of': iso(parse_moment(as_of))})}"
    page.goto(f"{stack.info['airflow_url']}/dags/{DAG}/runs/{urllib.parse.quote(reconciled.run_id)}/tasks/as_of/details")
    page.get_by_text("Extra Links").first.wait_for()
    to_console = page.get_by_role("link", name="Console at as-of")
    to_docs = page.locator('a[href="/shipshape/data-docs/index.html"]')  # the navigation's goes to /plugin/…
    assert to_console.get_attribute("href") == wanted
    assert to_docs.inner_text() == "Data Docs"
    shot(page, "22-run-links")

    with page.context.expect_page() as opened:  # another site: a new tab
        to_console.click()
    from shipshape.console.ui import when

    tab = opened.value
    tab.wait_for_function(RENDERED_JS, timeout=60_000)
    # the console shows the run's as-of: as the marts' own, or, when a later run has rebuilt them since, as
    # the as-of of the run the link came from
    tab.get_by_text(when(parse_moment(as_of)), exact=False).first.wait_for()
    shot(tab, "23-console-at-run-as-of")
    tab.close()

    to_docs.click()  # same site: this tab
    page.wait_for_url("**/shipshape/data-docs/index.html")
    assert page.title() == "Data Docs created by Great Expectations"
    # the site lists this run's marts validations (its table is drawn by a script from a CDN, which a
    # closed network does not reach: the page as served holds the data all the same), later runs' too
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
    secrets = [smtp_server.password, webhook_server.token, stack.info["airflow_password"]]
    for body in [*smtp_server.texts(), *(repr(p["body"]) for p in webhook_server.posts)]:
        assert not [s for s in secrets if s in body]
        assert "postgresql://" not in body
