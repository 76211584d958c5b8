"""What the browser tests share besides fixtures (tests/browser/conftest.py has those): where Chromium
and the screenshots are, `start_stack` (`shipshape up`, the code `make up` runs, on free ports with a small
live sandbox and a fresh warehouse and metadata database), and helpers to wait on runs and drive the UI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipshape.airflow_runtime import DagRunResult, free_port
from shipshape.up import Stack, UpSettings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes say: without these, Chromium reaches for Google's hosts on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
RUN_TIMEOUT = 1200


@contextmanager
def start_stack(new_database, tmp_path_factory, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """`shipshape up` in this process, with `env` on top of the test's environment, until the block ends;
    then stopped, with no process left. Corrections are dry runs (`SHIPSHAPE_APPLY_CORRECTIONS=false`) so
    the plan stays to be looked at."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does it)")
    wh, meta = new_database("shipshape_ui"), new_database("shipshape_ui_airflow")
    full_env = {**os.environ, "AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE": wh, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
                "SHIPSHAPE_APPLY_CORRECTIONS": "false", **(env or {})}
    settings = UpSettings(data_dir=tmp_path_factory.mktemp("up"), airflow_port=free_port(),
                          sandbox_port=free_port(), console_port=free_port(), orders=150, seed=7, speed=1.0)
    up = Stack(settings, env=full_env)
    try:
        up.start()
        yield up
    finally:
        home = settings.airflow_home
        up.stop()
        from shipshape.airflow_runtime import processes_of

        left = processes_of(home)
        assert not left, f"processes left behind: {left}"


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def idle(page) -> None:
    """Leave the UI while waiting: its pages poll the API every few seconds, which costs a core here."""
    page.goto("about:blank")


def wait_for(stack: Stack, dag_id: str, what, *, timeout: float = RUN_TIMEOUT) -> DagRunResult:
    def progress(run: DagRunResult) -> None:
        print(f"  [{datetime.now(UTC):%H:%M:%S}] {run.summary()}", flush=True)

    try:
        return stack.airflow.wait_for_run(dag_id, where=what, timeout=timeout, progress=progress)
    except Exception:
        print(stack.airflow.diagnostics(stack.airflow.runs(dag_id)[-2:]))
        raise


def trigger_from_form(page, stack: Stack, dag_id: str) -> None:
    page.goto(f"{stack.info['airflow_url']}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    page.get_by_role("dialog").wait_for()
