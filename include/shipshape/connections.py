"""Airflow connections as plain values: where an API or the warehouse lives and the credentials it takes.

This is shipshape's one parser of Airflow connections (:func:`parse`, JSON and URI forms); everything
else, the warehouse's URL, dbt's profile and Cosmos's included, is derived from the :class:`Connection` it
yields (:mod:`shipshape.warehouse.connection`). Credentials come only from Airflow connections. Outside a running Airflow task (tests, the CLI) they
are read from `AIRFLOW_CONN_<ID>` environment variables in Airflow's JSON or URI form; inside one,
Airflow's own lookup (which also covers secrets backends) is used. The password never appears in a
repr, and every secret read is registered with `shipshape.secrets` so logs mask it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from shipshape.secrets import register_secret


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    schema: str | None = None  # HTTP connections: the URL scheme (http/https), as Airflow's HTTP hook
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        register_secret(self.password)
        for key in ("token", "secret", "api_key", "access_token", "client_secret"):
            register_secret(self.extra.get(key))

    @property
    def base_url(self) -> str:
        """`<scheme>://<host>[:<port>]<extra.base_path>`; a host that already has a scheme is kept whole."""
        if not self.host:
            raise ValueError(f"connection {self.conn_id!r} has no host")
        if "://" in self.host:
            root = self.host.rstrip("/")
        else:
            scheme = self.schema or "https"
            root = f"{scheme}://{self.host}" + (f":{self.port}" if self.port else "")
        return root + str(self.extra.get("base_path", "")).rstrip("/")


def env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def parse(conn_id: str, raw: str) -> Connection:
    """Parse an Airflow connection in either of the forms Airflow accepts in `AIRFLOW_CONN_<ID>`.

    * JSON: `{"conn_type": …, "host": …, "port": …, "schema": …, "login": …, "password": …, "extra": {…}}`
      (`extra` an object or a JSON string);
    * URI: `<conn_type>://<login>:<password>@<host>:<port>/<schema>?<extra>`, every part percent-encoded;
      the extra is the query string's parameters, or the JSON in its `__extra__` parameter. A host with a
      protocol (`http://https://api.example.com`) keeps it, and a percent-encoded host containing `/` (a
      unix-socket directory) keeps its case, as in Airflow.

    `conn_type` is normalised as Airflow does (`postgresql` -> `postgres`, `-` -> `_`). Errors name the
    connection and the field, never a value (a mis-encoded password would otherwise surface in one).
    """
    raw = raw.strip()
    where = f"connection {conn_id!r} ({env_var(conn_id)})"
    if raw.startswith("{"):
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not valid JSON ({exc.msg} at character {exc.pos})") from None
        return Connection(conn_id, _conn_type(body.get("conn_type")), body.get("host") or None,
                          _port(body.get("port"), where), body.get("schema") or None, body.get("login") or None,
                          body.get("password") or None, _extra(body.get("extra"), where))
    if raw.count("://") not in (1, 2) or not raw.split("://", 1)[0]:
        raise ValueError(f"{where} is neither JSON nor a URI")
    conn_type, rest = raw.split("://", 1)
    protocol = None
    if "://" in rest:  # `http://https://host`: the host keeps its protocol
        protocol, rest = rest.split("://", 1)
        if "@" in protocol or ":" in protocol:
            raise ValueError(f"{where} is not a valid URI (a protocol before the host holds '@' or ':')")
    parts = urlsplit("//" + rest)
    try:
        port = parts.port
    except ValueError:  # e.g. a password with an unencoded '/' or '@': never show what was parsed as a port
        raise ValueError(f"{where}: the port is not a number (percent-encode any special characters in the "
                         "login and password)") from None
    host = _uri_host(parts)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra: Any = query.pop(EXTRA_KEY) if EXTRA_KEY in query else query
    return Connection(
        conn_id,
        _conn_type(conn_type),
        (f"{protocol}://{host}" if protocol else host) if host else None,
        port,
        unquote(parts.path[1:]) or None,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        _extra(extra, where),
    )


# Airflow's URI form carries a JSON extra in this query parameter.
EXTRA_KEY = "__extra__"


def _conn_type(value: object) -> str | None:
    if not value:
        return None
    conn_type = str(value)
    return "postgres" if conn_type == "postgresql" else conn_type.replace("-", "_")


def _port(value: object, where: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: port is not a number") from None


def _extra(value: object, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: extra is not valid JSON ({exc.msg})") from None
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: extra is not a JSON object")
    return value


def _uri_host(parts: SplitResult) -> str | None:
    """The host of a URI: `.hostname` lowercases it, which is fine for a name but not for a percent-encoded
    socket directory (`%2Ftmp%2FPG`), so that one comes from the raw netloc, as Airflow does it."""
    host = unquote(parts.hostname or "")
    if "/" in host:
        host = unquote(parts.netloc.rpartition("@")[2].split(":", 1)[0])
    return host or None


def from_airflow(conn_id: str, conn: Any) -> Connection:
    """An Airflow connection object (what `BaseHook.get_connection` returns) as a :class:`Connection`."""
    return Connection(conn_id, _conn_type(conn.conn_type), conn.host or None, conn.port, conn.schema or None,
                      conn.login or None, conn.password or None, dict(conn.extra_dejson or {}))


def lookup(conn_id: str, env: Mapping[str, str] | None = None) -> Connection | None:
    """The connection `conn_id` from `AIRFLOW_CONN_<ID>` in `env` (default the process environment), or
    None when that is unset or blank. No Airflow lookup: for the CLI and for configuration checks."""
    raw = (os.environ if env is None else env).get(env_var(conn_id), "")
    return parse(conn_id, raw) if raw.strip() else None


def get_connection(conn_id: str) -> Connection:
    """The connection `conn_id`: from the environment, else from Airflow; a clear error if neither has it."""
    found = lookup(conn_id)
    if found is not None:
        return found
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover - Airflow is installed with the project
        BaseHook = None
    if BaseHook is not None:
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # Airflow raises its own not-found type, which differs by context
            raise LookupError(
                f"no Airflow connection {conn_id!r}: set {env_var(conn_id)} or add it in Airflow ({exc})"
            ) from None
        return from_airflow(conn_id, conn)
    raise LookupError(f"no Airflow connection {conn_id!r}: set {env_var(conn_id)}")
