"""The warehouse connection: what `shipshape_warehouse` says, as libpq fields and a URL, and masking.

Nothing here parses a connection string of its own: :func:`shipshape.connections.parse` reads Airflow's
forms, and this module derives from the :class:`~shipshape.connections.Connection` it yields

* :func:`fields`: host, port, user, password, dbname and the libpq parameters of the extra (``sslmode``,
  ``connect_timeout``…), checked; dbt's profile (:func:`shipshape.dbt.profile_env`) and Cosmos's
  (:class:`shipshape.reconcile.cosmos.WarehouseProfileMapping`) are these fields;
* :func:`url_of`: a ``postgresql://`` URL psycopg accepts (:func:`build_url` assembles it).

A socket directory as host (``/tmp/...``; the embedded warehouse's socket) travels in the URL's ``?host=``,
which Airflow keeps as the extra ``host``; :func:`fields` reads it back from there.

:func:`mask_url` replaces any password in a URL, DSN or Airflow JSON with ``***``; everything shipshape
prints or logs about a warehouse goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from shipshape.connections import Connection, env_var, lookup

CONN_ID = "shipshape_warehouse"
CONN_ENV = env_var(CONN_ID)  # AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE

# Extras of an Airflow connection that libpq understands; every other extra is Airflow's business.
LIBPQ_PARAMS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
    }
)
DEFAULT_PORT = 5432
_POSTGRES_TYPES = {"postgres", "postgresql"}


def fields(conn: Connection) -> dict[str, str]:
    """The libpq fields of a Postgres connection: ``host``, ``port``, ``user``, ``password`` (empty when the
    server trusts), ``dbname``, then each libpq parameter the extra holds.

    Raises ValueError naming the connection, its variable and the missing field (host, login, or schema,
    which is the database in Airflow's terms) or the wrong type; never a value.
    """
    where = f"connection {conn.conn_id!r} ({env_var(conn.conn_id)})"
    conn_type = (conn.conn_type or "postgres").lower().split("+", 1)[0]  # tolerate postgresql+psycopg2://
    if conn_type not in _POSTGRES_TYPES:
        raise ValueError(f"{where} has conn_type {conn.conn_type!r}; the warehouse needs a postgres connection")
    extra = {k: str(v) for k, v in conn.extra.items() if v is not None and v != ""}
    host = conn.host or extra.get("host")
    port = conn.port or extra.get("port") or DEFAULT_PORT
    missing = [name for name, value in (("host", host), ("login", conn.login), ("schema (the database)",
                                                                             conn.schema)) if not value]
    if missing:
        raise ValueError(f"{where} has no {' and no '.join(missing)}: give it as in "
                         "postgresql://<login>:<password>@<host>:<port>/<database>")
    assert host and conn.login and conn.schema  # for the type checker: checked just above
    result = {"host": host, "port": str(int(port)), "user": conn.login, "password": conn.password or "",
              "dbname": conn.schema}
    result.update({k: v for k, v in sorted(extra.items()) if k in LIBPQ_PARAMS})
    return result


def url_of(conn: Connection) -> str:
    """A ``postgresql://`` URL for a Postgres connection (password included: print it with mask_url)."""
    libpq = fields(conn)
    params = {k: v for k, v in libpq.items() if k in LIBPQ_PARAMS}
    return build_url(host=libpq["host"], port=libpq["port"], user=libpq["user"], password=libpq["password"],
                     database=libpq["dbname"], params=params)


def configured(env: Mapping[str, str] | None = None, *, conn_id: str = CONN_ID) -> Connection | None:
    """The connection ``conn_id`` from ``AIRFLOW_CONN_<ID>`` in ``env`` (default the process environment),
    or None when that is unset. Only the environment: see :func:`shipshape.warehouse.connection_or_embedded`
    for Airflow's own lookup too."""
    return lookup(conn_id, env)


def resolve_url(env: Mapping[str, str] | None = None, *, conn_id: str = CONN_ID) -> str | None:
    """The URL of the connection ``conn_id`` set in ``env`` (default: the warehouse's), or None when unset.
    Raises ValueError for a connection that is not Postgres or lacks a field."""
    conn = configured(env, conn_id=conn_id)
    return None if conn is None else url_of(conn)


def build_url(
    *,
    host: str | None,
    port: int | str | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    params: Mapping[str, str] | None = None,
) -> str:
    """Assemble a ``postgresql://`` URL, quoting every part. A host starting with ``/`` is a socket dir."""
    params = dict(params or {})
    netloc = ""
    if user:
        netloc = quote(user, safe="")
        if password:
            netloc += ":" + quote(password, safe="")
        netloc += "@"
    if host and host.startswith("/"):
        params = {"host": host, **({"port": str(port)} if port else {}), **params}
    elif host:
        netloc += f"[{host}]" if ":" in host else host
        if port:
            netloc += f":{int(port)}"
    url = f"postgresql://{netloc}/{quote(database or '', safe='')}"
    if params:
        url += "?" + urlencode(params, safe="/", quote_via=quote)
    return url


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^@/?#\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^&\s]*)", re.I)
_JSON_PASSWORD = re.compile(r'(?P<head>"password"\s*:\s*)(?P<secret>"(?:[^"\\]|\\.)*")', re.I)


def mask_url(url: str | None) -> str:
    """``url`` with any password replaced by ``***``.

    Handles URLs (``scheme://user:secret@host``), ``password=`` in a query string or a libpq
    key/value DSN, and a ``"password"`` field in Airflow's JSON form.
    """
    if not url:
        return ""
    masked = _URL_PASSWORD.sub(lambda m: m["head"] + ("***" if m["secret"] else ""), url)
    masked = _KV_PASSWORD.sub(lambda m: m["head"] + "***", masked)
    return _JSON_PASSWORD.sub(lambda m: m["head"] + '"***"', masked)
