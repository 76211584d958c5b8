"""The mismatch console in a real Chromium (Debian's, driven by Playwright), as `make up` runs it.

One deployment for the module (`shipshape.up.Stack`, the code `make up` runs) on free ports, on a warehouse
built beforehand from a sandbox world in which every code occurs (tests/console/console_helpers.py), with
both DAGs paused once up so that the marts stay as built while the pages are looked at. Checks: up.json's
`console_url` answers and Airflow's processes are told it (`SHIPSHAPE_CONSOLE_URL`); every page opens with
its as-of and no error; the Overview says when a link's as-of differs from the marts'; an order's page
shows the systems side by side. Screenshots go to `artifacts/browser/` (git-ignored); the README shows two
of them (docs/img/).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shipshape.airflow_runtime import free_port
from shipshape.console import PAGES, RENDERED_JS
from shipshape.up import DAG_IDS, Stack, UpSettings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "console"))
from console_helpers import Built, build_console_warehouse, sql  # noqa: E402

ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def built(new_database, tmp_path_factory) -> Built:
    return build_console_warehouse(new_database("shipshape_console_ui"), tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="module")
def stack(one_airflow_at_a_time, built, new_database, tmp_path_factory) -> Iterator[Stack]:
    """`shipshape up` on the built warehouse, its DAGs paused once up; stopped with no process left."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does it)")
    env = {**os.environ, "AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE": built.url,
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": new_database("shipshape_console_ui_airflow"),
           "SHIPSHAPE_APPLY_CORRECTIONS": "false"}
    env.pop("SHIPSHAPE_CONSOLE_PASSWORD", None)
    settings = UpSettings(data_dir=tmp_path_factory.mktemp("up"), airflow_port=free_port(), sandbox_port=free_port(),
                          console_port=free_port(), orders=150, seed=7, speed=1.0)
    up = Stack(settings, env=env)
    try:
        up.start()
        for dag_id in DAG_IDS:
            up.airflow.pause(dag_id, True)
        yield up
    finally:
        home = settings.airflow_home
        up.stop()
        from shipshape.airflow_runtime import processes_of

        assert not processes_of(home), "processes left behind"


@pytest.fixture(scope="module")
def page(stack):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 2000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        context.close()
        browser.close()


def rendered(page) -> None:
    """The page's as-of banner is up and the page is rendered (shipshape.console.RENDERED_JS)."""
    page.get_by_text("Data as of").first.wait_for()
    page.wait_for_function(RENDERED_JS)


def shot(page, name: str, full: bool = True) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def test_up_serves_the_console(stack) -> None:
    info = json.loads(stack.settings.state_file.read_text())
    assert info["console_url"] == stack.console.url == f"http://127.0.0.1:{stack.settings.console_port}"
    assert stack.airflow.extra_env["SHIPSHAPE_CONSOLE_URL"] == info["console_url"]
    assert "SHIPSHAPE_CONSOLE_PASSWORD" not in json.dumps(info)


def test_every_page(stack, page, built) -> None:
    stamp = built.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    for number, (_, title, _, path) in enumerate(PAGES, start=1):
        page.goto(f"{stack.console.url}/{path}")
        rendered(page)
        page.get_by_role("heading", name=title).first.wait_for()
        assert page.get_by_text(stamp).count() >= 1, f"{title}: no as-of"
        assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: an exception"
        shot(page, f"console-{number}-{path}")


def test_overview_link_from_an_earlier_run(stack, page, built) -> None:
    earlier = built.as_of - timedelta(hours=2)
    page.goto(f"{stack.console.url}/overview?as_of={earlier.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    rendered(page)
    page.get_by_text("You followed a link from the run judged at").wait_for()
    shot(page, "console-overview-linked", full=False)


def test_an_order_side_by_side(stack, page, built) -> None:
    ((name,),) = sql(built.url, "select order_name from ops.correction_log where status = 'failed' limit 1")
    page.goto(f"{stack.console.url}/orders?order={name.lstrip('#')}")
    rendered(page)
    for system in ("Shopify", "ShipHero", "Stripe / PayPal", "Carrier"):
        page.get_by_text(system, exact=True).first.wait_for()
    page.get_by_role("heading", name=f"{name} · Shopify id").wait_for()
    page.get_by_text("Corrections sent for it").scroll_into_view_if_needed()
    shot(page, "console-order")
