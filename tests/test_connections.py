"""shipshape.connections.parse, the one parser of Airflow connections: both of Airflow's forms, as Airflow
reads them, and errors that name the connection and the field but never a secret."""

from __future__ import annotations

import json

import pytest

from shipshape.connections import Connection, env_var, lookup, parse

# every character a URI treats specially, and a space
AWKWARD = "p@ss/w:rd?#%&= x"
AWKWARD_ENCODED = "p%40ss%2Fw%3Ard%3F%23%25%26%3D%20x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"postgres://ship:{AWKWARD_ENCODED}@db.example.com:5433/wh",
         Connection("c", "postgres", "db.example.com", 5433, "wh", "ship", AWKWARD)),
        ("postgresql://ship@DB.Example.com/wh?sslmode=require&application_name=x",  # Airflow lowercases names
         Connection("c", "postgres", "db.example.com", None, "wh", "ship", None,
                    {"sslmode": "require", "application_name": "x"})),
        ("postgres://ship@db/wh?__extra__=%7B%22sslmode%22%3A+%22verify-full%22%2C+%22n%22%3A+1%7D",
         Connection("c", "postgres", "db", None, "wh", "ship", None, {"sslmode": "verify-full", "n": 1})),
        ("postgres://postgres@%2Ftmp%2FPg%20Sock:55432/shipshape",  # a socket directory keeps its case
         Connection("c", "postgres", "/tmp/Pg Sock", 55432, "shipshape", "postgres")),
        ("http://https://api.example.com:8443?base_path=%2Fv1",
         Connection("c", "http", "https://api.example.com", 8443, None, None, None, {"base_path": "/v1"})),
        ("google-cloud-platform://", Connection("c", "google_cloud_platform")),
        (json.dumps({"conn_type": "postgres", "host": "wh", "login": "ship", "password": AWKWARD, "port": "5432",
                     "schema": "shipshape", "extra": {"sslmode": "disable"}}),
         Connection("c", "postgres", "wh", 5432, "shipshape", "ship", AWKWARD, {"sslmode": "disable"})),
        (json.dumps({"conn_type": "postgresql", "host": "wh", "extra": json.dumps({"connect_timeout": 7})}),
         Connection("c", "postgres", "wh", extra={"connect_timeout": 7})),
    ],
    ids=["uri-awkward-password", "uri-query-extras", "uri-__extra__", "uri-socket-dir", "uri-host-protocol",
         "uri-conn-type-dashes", "json", "json-string-extra"],
)  # fmt: skip
def test_both_forms_as_airflow_reads_them(raw, expected):
    assert parse("c", raw) == expected


def test_the_password_is_kept_out_of_the_repr():
    conn = parse("c", json.dumps({"conn_type": "http", "host": "h", "password": AWKWARD}))
    assert AWKWARD not in repr(conn)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"conn_type": "postgres", "password": "' + AWKWARD + '", ', "not valid JSON"),
        (json.dumps({"conn_type": "postgres", "password": AWKWARD, "port": "fivefour"}), "port is not a number"),
        (json.dumps({"conn_type": "postgres", "password": AWKWARD, "extra": "{" + AWKWARD}), "extra is not valid"),
        ("postgres://ship:s3cret/w@db:5432/wh", "the port is not a number"),  # a password with a raw '/'
        ("just words " + AWKWARD, "neither JSON nor a URI"),
    ],
)  # fmt: skip
def test_errors_name_the_connection_and_the_field_never_the_secret(raw, says):
    with pytest.raises(ValueError) as caught:
        parse("shipshape_warehouse", raw)
    message = str(caught.value)
    assert "'shipshape_warehouse'" in message and env_var("shipshape_warehouse") in message
    assert says in message
    for piece in ("p@ss", "w:rd", "ss/w", "s3cret"):
        assert piece not in message, message


def test_lookup_reads_the_environment_only():
    assert lookup("x", {}) is None and lookup("x", {"AIRFLOW_CONN_X": "  "}) is None
    assert lookup("x", {"AIRFLOW_CONN_X": "postgres://u@h/d"}) == Connection("x", "postgres", "h", None, "d", "u")
