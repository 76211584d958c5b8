"""Fixtures of the browser tests: a `shipshape up` deployment for the module (`stack`), Debian's Chromium
through Playwright (`browser`) and a page logged in to the deployment's UI (`page`).

A module gets the default deployment from `stack`, or its own by defining a `stack` fixture of its own
with `browser_helpers.start_stack(..., env=...)`; `page` logs in to whichever the module uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, shot, start_stack

from shipshape.up import Stack


@pytest.fixture(scope="module")
def stack(one_airflow_at_a_time, new_database, tmp_path_factory, smtp_server, webhook_server) -> Iterator[Stack]:
    """`shipshape up` in this process, until the module's tests are done; stopped, with no process left. Its
    alerts go to the module's local SMTP server and the recording HTTP server standing in for Slack."""
    env = {"AIRFLOW_CONN_SHIPSHAPE_ALERTS_SMTP": smtp_server.connection(to="ops@example.com"),
           "AIRFLOW_CONN_SHIPSHAPE_ALERTS_SLACK": webhook_server.connection()}
    with start_stack(new_database, tmp_path_factory, env) as up:
        yield up


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser, stack):
    """A logged-in page on the deployment's UI."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(stack.info["airflow_url"] + "/")
    page.get_by_label("Username").fill(stack.info["airflow_username"])
    page.get_by_label("Password").fill(stack.info["airflow_password"])
    shot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    yield page
    context.close()
