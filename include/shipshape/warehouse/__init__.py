"""The shipshape warehouse: where it is, how to reach it, and setting it up.

The warehouse is the Airflow connection ``shipshape_warehouse`` (``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE``, or
Airflow's own connections inside a task), in either of Airflow's forms:

* URI: ``postgres://user:pass@host:5432/dbname`` (``postgresql://`` works too; the path is the database,
  Airflow calls it ``schema``; query parameters libpq knows, such as ``sslmode``, are kept);
* JSON: ``{"conn_type": "postgres", "host": ..., "login": ..., "password": ..., "port": ...,
  "schema": "<database>", "extra": {...}}``.

Unset, the warehouse is the **embedded** server (:mod:`.embedded`), which ``shipshape warehouse up``
starts. The package's parts:

* :mod:`.connection`: the connection's fields and URL (from :mod:`shipshape.connections`' one parser),
  and :func:`mask_url`;
* :mod:`.bootstrap`: the schemas, shared tables and the console's role (DDL);
* :mod:`.embedded`: the embedded server's start, stop and state.

Two ways in, and the difference matters:

* :func:`url` (and :func:`connection`) is what a **task** calls: the configured warehouse, or the embedded
  one when it is already running; otherwise a clear error. It starts nothing and runs no DDL.
* :func:`up` is what **setting up** calls (``shipshape warehouse up``/``make warehouse-up``; ``make up``
  and the demo call :func:`bootstrap` on the warehouse they start): start the embedded server if nothing is
  configured, then bootstrap.

``python -m shipshape.warehouse up|down|status`` runs :func:`up`, :func:`down` and :func:`status`.
Passwords are never printed or logged: everything user-facing goes through :func:`mask_url`.
"""

from __future__ import annotations

import logging
import os

from shipshape.connections import Connection, get_connection
from shipshape.warehouse.bootstrap import CONSOLE_ROLE, SCHEMAS, bootstrap, set_console_password
from shipshape.warehouse.connection import (
    CONN_ENV,
    CONN_ID,
    build_url,
    configured,
    fields,
    mask_url,
    resolve_url,
    url_of,
)
from shipshape.warehouse.embedded import (
    DATA_DIR_ENV,
    PORT_ENV,
    embedded_data_dir,
    embedded_running,
    embedded_state,
    project_root,
    running_connection,
    start_embedded,
    stop_embedded,
)

__all__ = [
    "CONN_ENV", "CONN_ID", "CONSOLE_ROLE", "DATA_DIR_ENV", "PORT_ENV", "SCHEMAS", "WarehouseNotConfigured",
    "bootstrap", "build_url", "configured", "connection", "down", "embedded_data_dir", "embedded_running",
    "embedded_state",
    "fields", "mask_url", "project_root", "resolve_url", "running_connection", "set_console_password",
    "start_embedded", "status", "stop_embedded", "up", "url", "url_of",
]  # fmt: skip

log = logging.getLogger(__name__)


class WarehouseNotConfigured(LookupError):
    """Neither the ``shipshape_warehouse`` connection nor a running embedded warehouse."""


def connection() -> Connection:
    """The warehouse a task uses: the ``shipshape_warehouse`` connection (``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE``,
    else Airflow's connections), else the embedded warehouse if it is already running.

    Starts nothing and creates nothing: a worker never boots a database of its own, and the schemas are
    the business of whoever set the warehouse up (:func:`up`). Raises :class:`WarehouseNotConfigured` naming
    the connection and how to configure it when there is neither; ValueError naming the field when the
    connection lacks one.
    """
    try:
        found = get_connection(CONN_ID)
    except LookupError:
        found = running_connection()
        if found is None:
            raise WarehouseNotConfigured(
                f"no warehouse: the Airflow connection {CONN_ID!r} is not set and no embedded warehouse is "
                f"running in {embedded_data_dir()}. Set {CONN_ENV} (e.g. postgresql://user:password@host:5432/"
                f"shipshape) or add {CONN_ID!r} in Airflow, or start the embedded one with `shipshape "
                "warehouse up` (make warehouse-up)"
            ) from None
    fields(found)  # a missing field or a wrong type is named here, not by psycopg later
    return found


def url() -> str:
    """The URL of :func:`connection` (password included: print it with :func:`mask_url`)."""
    return url_of(connection())


def up(*, data_dir: str | os.PathLike[str] | None = None, port: int | None = None) -> str:
    """Make the warehouse ready and return its URL (password included; print it with mask_url).

    With ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE`` set, connect to it and bootstrap. Otherwise start (or reuse)
    the embedded server (:func:`start_embedded`) and bootstrap its ``shipshape`` database.
    """
    target = resolve_url()
    if target is None:
        target = start_embedded(data_dir, port=port)
    bootstrap(target)
    log.info("warehouse ready at %s", mask_url(target))
    return target


def down(*, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Stop the embedded server if it is running, and say what happened.

    A warehouse given by ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE`` is never touched.
    """
    note = f" ({CONN_ENV} is set; that warehouse is not managed here)" if configured() else ""
    return stop_embedded(data_dir) + note


def status(*, data_dir: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """Where the warehouse is and whether it answers. Safe to print: the URL is masked."""
    target = resolve_url()
    result: dict[str, object]
    if target is not None:
        result = {"mode": "connection", "source": CONN_ENV, "url": mask_url(target)}
    else:
        result, target = embedded_state(data_dir)
    if target is not None:
        result.update(_probe(target))
    return result


def _probe(url: str) -> dict[str, object]:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            version = conn.execute("show server_version").fetchone()[0]
            present = {
                row[0]
                for row in conn.execute(
                    "select schema_name from information_schema.schemata where schema_name = any(%s)",
                    [list(SCHEMAS)],
                )
            }
    except psycopg.Error as exc:
        return {"reachable": False, "error": mask_url(str(exc).strip())}
    return {
        "reachable": True,
        "server_version": version,
        "missing_schemas": [s for s in SCHEMAS if s not in present],
    }
