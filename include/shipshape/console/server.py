"""The console as a process: the Streamlit command line and environment, for ``shipshape console`` (in the
foreground) and ``shipshape up`` (a supervised child, like the sandbox).

Streamlit is told everything on its command line, so no config file or home folder of the user's is read,
and nothing is fetched at runtime: usage statistics off, headless, no file watcher.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from shipshape.console.settings import CONSOLE_CONN_ENV, ConsoleSettings, console_role_url

APP = Path(__file__).with_name("app.py")


def argv(settings: ConsoleSettings) -> list[str]:
    return [sys.executable, "-m", "shipshape.console.launch", "run", str(APP),
            "--server.address", settings.address, "--server.port", str(settings.port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal", "--theme.base", "light"]


def environment(settings: ConsoleSettings, warehouse_url: str, env: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ``env`` with the console's read-only connection (the one given, else the
    warehouse as the console's role) and no other Airflow connection: the console never holds the
    warehouse owner's or an API's credentials. The connection travels only here, never on a command line."""
    settings.check()
    child = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}
    child[CONSOLE_CONN_ENV] = env.get(CONSOLE_CONN_ENV) or console_role_url(warehouse_url)
    return child


class ConsoleProcess:
    """The console as a child process (its own process group, its own log), started and stopped by
    ``shipshape up``."""

    def __init__(self, settings: ConsoleSettings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.popen: subprocess.Popen | None = None
        self.url = settings.url

    def start(self, warehouse_url: str, env: Mapping[str, str], timeout: float = 120) -> None:
        child = environment(self.settings, warehouse_url, env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(argv(self.settings), stdin=subprocess.DEVNULL, stdout=log_file,
                                      stderr=subprocess.STDOUT, env=child, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the console did not answer on {self.url} within {timeout:.0f} s; its log: {self.log_path}")

    def check(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(f"the console (pid {self.popen.pid}) exited with {self.popen.returncode}; "
                               f"its log: {self.log_path}")

    def stop(self, grace: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
