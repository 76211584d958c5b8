"""Fixtures for the console's tests: the module's warehouse, built once by the real pipeline from a sandbox
world (console_helpers.py), and Streamlit's AppTest on the console's entry point reading a warehouse as the
console's role."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import Built, build_console_warehouse
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from shipshape.console.settings import CONSOLE_CONN_ENV, PASSWORD_ENV, console_role_url

APP = Path(__file__).resolve().parents[2] / "include" / "shipshape" / "console" / "app.py"


@pytest.fixture(scope="module")
def built(module_database: str, tmp_path_factory) -> Built:
    """The module's warehouse (console_helpers.build_console_warehouse); a test that writes takes a clone."""
    return build_console_warehouse(module_database, tmp_path_factory.mktemp("console"))


@pytest.fixture
def console_at(monkeypatch):
    """``console_at(url, password=None, address="127.0.0.1", **query)``: an AppTest of the console reading
    ``url`` as the console's role, with ``query`` as its URL's query parameters, listening (as far as the app
    can tell) on ``address``, its login password ``password``; run once."""
    previous = st_config.get_option("server.address")

    def make(url: str, password: str | None = None, address: str = "127.0.0.1", **query: str) -> AppTest:
        st_config.set_option("server.address", address)
        monkeypatch.setenv(CONSOLE_CONN_ENV, console_role_url(url))
        if password:
            monkeypatch.setenv(PASSWORD_ENV, password)
        else:
            monkeypatch.delenv(PASSWORD_ENV, raising=False)
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params.update(query)
        return at.run()

    yield make
    st_config.set_option("server.address", previous)
