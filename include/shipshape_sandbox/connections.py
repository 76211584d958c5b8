"""The Airflow connections that point shipshape's five API connections at a sandbox.

The sandbox serves each API under `/<name>` on one address, with credentials of its own (its
`/_sandbox/credentials`); these are the connections, in the JSON form Airflow and
`shipshape.connections.parse` read, that reach them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


def connection_env(base_url: str, credentials: dict[str, dict[str, str]]) -> dict[str, str]:
    """The AIRFLOW_CONN_* variables that point every API connection of SPEC.md at a sandbox.

    JSON-form Airflow connections: `schema` is the URL scheme, `extra.base_path` the prefix the sandbox
    serves the API under (empty for the real service), and `extra.sandbox` marks the connection as the
    local sandbox, where push_corrections applies by default (with a loopback host; see
    shipshape.corrections.writers.is_sandbox)."""
    from shipshape_sandbox.server import SHOPIFY_API_VERSION

    parts = urlsplit(base_url)

    def conn(name: str, login: str | None, password: str, **extra: str) -> str:
        body = {
            "conn_type": "http",
            "host": parts.hostname,
            "port": parts.port,
            "schema": parts.scheme,
            "login": login,
            "password": password,
            "extra": {"base_path": f"/{name}", "sandbox": True, **extra},
        }
        return json.dumps(body, separators=(",", ":"))

    return {
        "AIRFLOW_CONN_SHOPIFY_DEFAULT": conn(
            "shopify", None, credentials["shopify"]["access_token"], api_version=SHOPIFY_API_VERSION
        ),
        "AIRFLOW_CONN_STRIPE_DEFAULT": conn("stripe", None, credentials["stripe"]["secret_key"]),
        "AIRFLOW_CONN_PAYPAL_DEFAULT": conn(
            "paypal", credentials["paypal"]["client_id"], credentials["paypal"]["client_secret"]
        ),
        "AIRFLOW_CONN_SHIPHERO_DEFAULT": conn(
            "shiphero", credentials["shiphero"]["username"], credentials["shiphero"]["password"]
        ),
        "AIRFLOW_CONN_TRACKING_DEFAULT": conn("tracking", None, credentials["tracking"]["api_key"]),
    }


def connections_file(base_url: str, credentials: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The API connections to a sandbox in the JSON form of Airflow's LocalFilesystemBackend (conn_id ->
    fields), for a deployment that reads connections from a file (docker-compose.yaml, `shipshape up`)."""
    return {name.removeprefix("AIRFLOW_CONN_").lower(): json.loads(value)
            for name, value in connection_env(base_url, credentials).items()}
