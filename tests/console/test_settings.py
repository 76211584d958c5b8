"""The console's settings and process wiring, without a server: the login rule, the read-only connection
it is handed (and nothing else), and the docker-compose service that runs it as `make up` does."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from shipshape import warehouse
from shipshape.cli import parser
from shipshape.console import server
from shipshape.console.settings import (
    CONSOLE_CONN_ENV,
    URL_ENV,
    ConsoleError,
    ConsoleSettings,
    console_role_url,
    database_url,
    is_loopback,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("", False), (None, False), ("10.0.0.5", False), ("console.example.com", False),
])
def test_loopback(address, loopback) -> None:
    assert is_loopback(address) is loopback


def test_login_rule() -> None:
    local = ConsoleSettings()
    assert not local.login_required("127.0.0.1")
    assert local.login_required(None)  # Streamlit's own default listens everywhere
    local.check()
    with pytest.raises(ConsoleError, match="SHIPSHAPE_CONSOLE_PASSWORD"):
        ConsoleSettings(address="0.0.0.0").check()
    ConsoleSettings(address="0.0.0.0", password="s3cret").check()
    assert ConsoleSettings(password="s3cret").login_required("127.0.0.1")
    assert "s3cret" not in repr(ConsoleSettings(password="s3cret"))


def test_connection_and_child_environment() -> None:
    owner = "postgresql://owner:hunter2@db.example.com:5432/shipshape?sslmode=require"
    role = console_role_url(owner)
    assert role == "postgresql://shipshape_console@db.example.com:5432/shipshape?sslmode=require"
    assert database_url({warehouse.CONN_ENV: owner}) == role
    given = "postgresql://shipshape_console:pw@db:5432/shipshape"
    assert database_url({warehouse.CONN_ENV: owner, CONSOLE_CONN_ENV: given}) == given
    with pytest.raises(ConsoleError, match="shipshape console"):
        database_url({})

    env = {warehouse.CONN_ENV: owner, "AIRFLOW_CONN_STRIPE_DEFAULT": '{"password": "sk_test"}', "PATH": "/bin"}
    child = server.environment(ConsoleSettings(), owner, env)
    assert child == {"PATH": "/bin", CONSOLE_CONN_ENV: role}
    argv = server.argv(ConsoleSettings(port=8599))
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1" and "8599" in argv
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert not any("hunter2" in a for a in argv)


def test_compose_console_service() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    console = compose["services"]["console"]
    argv = shlex.split(console["command"][-1])
    assert argv[:4] == ["exec", "python", "-m", "shipshape.cli"]
    args = parser().parse_args(argv[4:])
    assert args.command == "console" and args.port == 8501
    assert "SHIPSHAPE_CONSOLE_PASSWORD" in console["environment"]  # off loopback, a login is required
    assert console["environment"][CONSOLE_CONN_ENV].startswith(f"postgresql://{warehouse.CONSOLE_ROLE}:")
    assert compose["x-airflow-common"]["environment"][URL_ENV].endswith("${SHIPSHAPE_CONSOLE_PORT:-8501}")
