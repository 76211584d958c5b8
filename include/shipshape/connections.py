"""Airflow connections as plain values: where an API lives and the credentials it takes.

Credentials come only from Airflow connections. Outside a running Airflow task (tests, the CLI) they
are read from `AIRFLOW_CONN_<ID>` environment variables in Airflow's JSON or URI form; inside one,
Airflow's own lookup (which also covers secrets backends) is used. The password never appears in a
repr, and every secret read is registered with `shipshape.secrets` so logs mask it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

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
    """Parse Airflow's JSON (`{"conn_type": …}`) or URI (`http://login:pw@host:port/schema?extra`) form."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"connection {conn_id!r}: {env_var(conn_id)} is not valid JSON ({exc.msg})") from None
        extra = body.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        port = body.get("port")
        return Connection(conn_id, body.get("conn_type"), body.get("host"), int(port) if port else None,
                          body.get("schema"), body.get("login"), body.get("password"), extra)
    parts = urlsplit(raw)
    if not parts.scheme:
        raise ValueError(f"connection {conn_id!r}: {env_var(conn_id)} is neither JSON nor a URI")
    query = dict(parse_qsl(parts.query))
    extra: dict[str, Any] = json.loads(query.pop("__extra__")) if "__extra__" in query else query
    return Connection(
        conn_id,
        parts.scheme.replace("-", "_"),
        unquote(parts.hostname) if parts.hostname else None,
        parts.port,
        unquote(parts.path.lstrip("/")) or None,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        extra,
    )


def get_connection(conn_id: str) -> Connection:
    """The connection `conn_id`: from the environment, else from Airflow; a clear error if neither has it."""
    raw = os.environ.get(env_var(conn_id))
    if raw:
        return parse(conn_id, raw)
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
        return Connection(conn_id, conn.conn_type, conn.host, conn.port, conn.schema, conn.login, conn.password,
                          conn.extra_dejson or {})
    raise LookupError(f"no Airflow connection {conn_id!r}: set {env_var(conn_id)}")
