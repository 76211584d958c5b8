"""The warehouse connection's fields and URL (shipshape.warehouse.connection), derived from the one parser's
Connection, and masking."""

from __future__ import annotations

import json

import pytest
from psycopg.conninfo import conninfo_to_dict

from shipshape.warehouse import CONN_ENV, mask_url, resolve_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgres://ship:p%40ss%2Fw%3Ard@db.example.com:5433/wh",
            {"user": "ship", "password": "p@ss/w:rd", "host": "db.example.com", "port": "5433", "dbname": "wh"},
        ),
        (
            "postgresql://ship@db.example.com/wh?sslmode=require&cursor=realdictcursor",
            {"user": "ship", "host": "db.example.com", "port": "5432", "dbname": "wh", "sslmode": "require"},
        ),
        (
            "postgres://ship@DB.Example.com:5432/wh?__extra__=%7B%22sslmode%22%3A+%22verify-full%22%7D",
            {"user": "ship", "host": "db.example.com", "port": "5432", "dbname": "wh", "sslmode": "verify-full"},
        ),
        (
            "postgres://postgres@%2Ftmp%2Fpg%20sock:55432/shipshape",
            {"user": "postgres", "host": "/tmp/pg sock", "port": "55432", "dbname": "shipshape"},
        ),
        (
            json.dumps({"conn_type": "postgres", "host": "wh", "login": "ship", "password": "a b@c:d/e?f",
                        "port": 5432, "schema": "shipshape", "extra": {"sslmode": "disable", "iam": True}}),
            {"user": "ship", "password": "a b@c:d/e?f", "host": "wh", "port": "5432", "dbname": "shipshape",
             "sslmode": "disable"},
        ),
        (
            json.dumps({"conn_type": "postgres", "host": "wh", "login": "ship", "schema": "shipshape",
                        "extra": json.dumps({"connect_timeout": 7})}),
            {"user": "ship", "host": "wh", "port": "5432", "dbname": "shipshape", "connect_timeout": "7"},
        ),
    ],
    ids=["uri-encoded-password", "uri-libpq-extras-only", "uri-__extra__", "uri-socket-dir", "json", "json-str-extra"],
)  # fmt: skip
def test_resolve_url_forms(raw, expected):
    url = resolve_url({CONN_ENV: raw})
    assert url.startswith("postgresql://")
    assert conninfo_to_dict(url) == expected


def test_resolve_url_unset_and_wrong_type():
    assert resolve_url({}) is None
    assert resolve_url({CONN_ENV: "  "}) is None
    with pytest.raises(ValueError, match="postgres"):
        resolve_url({CONN_ENV: "mysql://u:p@h/db"})
    with pytest.raises(ValueError, match="postgres"):
        resolve_url({CONN_ENV: json.dumps({"conn_type": "http", "host": "h"})})


@pytest.mark.parametrize(
    ("conn", "missing"),
    [
        ({"login": "ship", "schema": "wh"}, "no host:"),
        ({"host": "db", "schema": "wh"}, "no login:"),
        ({"host": "db", "login": "ship"}, "no schema (the database):"),
        ({"port": 5432}, "no host and no login and no schema (the database):"),
    ],
)
def test_a_missing_field_is_named_and_the_password_is_not(conn, missing):
    raw = json.dumps({"conn_type": "postgres", "password": "hunter2-s3cret", **conn})
    with pytest.raises(ValueError) as caught:
        resolve_url({CONN_ENV: raw})
    message = str(caught.value)
    assert missing in message and "'shipshape_warehouse'" in message and CONN_ENV in message
    assert "hunter2" not in message


def test_dbt_profile_and_url_come_from_the_same_fields():
    """dbt's profile variables are the connection's fields: a password with every awkward character and the
    sslmode of the extra arrive intact, in either form; the URL psycopg gets says the same."""
    from shipshape import dbt

    password = "p@ss/w:rd?#%& x"
    raw = json.dumps({"conn_type": "postgres", "host": "db.example.com", "port": 6543, "login": "ship@user",
                      "password": password, "schema": "wh", "extra": {"sslmode": "require", "iam": True}})
    expected = {"SHIPSHAPE_DBT_HOST": "db.example.com", "SHIPSHAPE_DBT_PORT": "6543",
                "SHIPSHAPE_DBT_USER": "ship@user", "SHIPSHAPE_DBT_PASSWORD": password,
                "SHIPSHAPE_DBT_DBNAME": "wh", "SHIPSHAPE_DBT_SSLMODE": "require"}
    url = resolve_url({CONN_ENV: raw})
    assert dbt.profile_env(url) == expected  # the URL is the connection's URI form
    assert conninfo_to_dict(url) == {"host": "db.example.com", "port": "6543", "user": "ship@user",
                                     "password": password, "dbname": "wh", "sslmode": "require"}
    from shipshape.connections import parse

    assert dbt.profile_env(parse("shipshape_warehouse", raw)) == expected


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://ship:hunter2@db:5432/wh", "postgresql://ship:***@db:5432/wh"),
        ("postgres://ship:p%40ss@db/wh?sslmode=require", "postgres://ship:***@db/wh?sslmode=require"),
        ("postgresql://ship@db/wh", "postgresql://ship@db/wh"),
        ("postgresql://ship:@db/wh", "postgresql://ship:@db/wh"),
        ("postgresql://db/wh?user=ship&password=hunter2&sslmode=require",
         "postgresql://db/wh?user=ship&password=***&sslmode=require"),
        ("host=db user=ship password=hunter2 dbname=wh", "host=db user=ship password=*** dbname=wh"),
        ("host=db password='hun ter2' dbname=wh", "host=db password=*** dbname=wh"),
        ('{"conn_type": "postgres", "password": "hun\\"ter2", "host": "db"}',
         '{"conn_type": "postgres", "password": "***", "host": "db"}'),
        ("", ""),
    ],
)  # fmt: skip
def test_mask_url(url, masked):
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url) and "hun ter2" not in mask_url(url)
