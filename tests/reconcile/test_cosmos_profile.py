"""Cosmos's dbt profile for shipshape_reconcile (shipshape.reconcile.cosmos.WarehouseProfileMapping) is the
warehouse connection's fields, as the one parser reads them: the same host, port, user, database and sslmode
as dbt outside Cosmos, the password only in the environment Cosmos hands dbt."""

from __future__ import annotations

import json

import pytest
import yaml

from shipshape import dbt
from shipshape.warehouse import CONN_ENV

PASSWORD = "p@ss/w:rd?#%& x"


def mapping():
    from shipshape.reconcile import cosmos as wiring

    return wiring.profile_config().profile_mapping


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps({"conn_type": "postgres", "host": "db.example.com", "port": 6543, "login": "ship",
                     "password": PASSWORD, "schema": "wh", "extra": {"sslmode": "verify-full"}}),
         {"host": "db.example.com", "port": 6543, "user": "ship", "dbname": "wh", "sslmode": "verify-full"}),
        ("postgresql://postgres@/shipshape?host=%2Ftmp%2FPg%20Sock&port=55432",  # the embedded socket URL
         {"host": "/tmp/Pg Sock", "port": 55432, "user": "postgres", "dbname": "shipshape"}),
    ],
    ids=["json-with-password-and-sslmode", "uri-socket-dir"],
)  # fmt: skip
def test_the_profile_is_the_connections_fields(raw, expected, monkeypatch):
    monkeypatch.setenv(CONN_ENV, raw)
    profile_mapping = mapping()
    assert profile_mapping.can_claim_connection()
    profile = profile_mapping.profile
    secret_var = profile_mapping.get_env_var_name("password")
    assert profile == {"type": "postgres", **expected, "schema": "staging", "threads": profile["threads"],
                       "password": "{{ env_var('" + secret_var + "') }}"}
    env = profile_mapping.env_vars
    password = PASSWORD if "password" in raw else ""
    assert env[secret_var] == password and env["PGOPTIONS"] == dbt.session_options()
    # the profiles.yml Cosmos writes holds no password, and says what dbt outside Cosmos is told
    written = yaml.safe_load(profile_mapping.get_profile_file_contents("shipshape", "warehouse"))
    target = written["shipshape"]["outputs"]["warehouse"]
    assert PASSWORD not in json.dumps(written)
    outside = dbt.profile_env(raw if raw.startswith("postgresql") else _as_uri(raw))
    assert str(target["host"]) == outside["SHIPSHAPE_DBT_HOST"] and str(target["port"]) == outside["SHIPSHAPE_DBT_PORT"]
    assert target["user"] == outside["SHIPSHAPE_DBT_USER"] and target["dbname"] == outside["SHIPSHAPE_DBT_DBNAME"]


def _as_uri(raw: str) -> str:
    from shipshape.warehouse import resolve_url

    return resolve_url({CONN_ENV: raw})


def test_a_connection_without_a_database_is_not_claimed(monkeypatch):
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "postgres", "host": "db", "login": "ship"}))
    assert mapping().can_claim_connection() is False
