"""The shipshape warehouse: find it, start it, bootstrap it.

The warehouse is the Airflow connection ``shipshape_warehouse``. Like every shipshape credential it
comes from the environment, here ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE``, in either of Airflow's forms:

* URI: ``postgres://user:pass@host:5432/dbname`` (``postgresql://`` works too; the path is the
  database, Airflow calls it ``schema``; query parameters that libpq knows, such as ``sslmode``, are
  kept);
* JSON: ``{"conn_type": "postgres", "host": ..., "login": ..., "password": ..., "port": ...,
  "schema": "<database>", "extra": {...}}``.

When that variable is unset, :func:`up` starts an **embedded** PostgreSQL 16 (the ``pgserver``
package, which bundles the binaries) with its data in ``.data/warehouse/`` in the project
(``$SHIPSHAPE_DATA_DIR/warehouse`` when that is set). The server outlives the process that started
it, so ``shipshape warehouse up`` followed by any later command reuses it, until :func:`down`. It
listens on a unix socket in its data directory *and* on ``127.0.0.1:<port>`` (port 55432, or
``$SHIPSHAPE_WAREHOUSE_PORT``, or a free one if that is taken; the choice is kept in the server's
``postgresql.conf``) so that dbt and Airflow can use an ordinary host/port connection. Auth is
``trust`` for local connections, user ``postgres``, database ``shipshape``.

Either way :func:`up` creates the schemas ``raw``, ``staging``, ``intermediate``, ``marts`` and
``ops`` plus the shared tables ``raw._quarantine``, ``ops.quarantine_acknowledgements``,
``ops.extraction_state`` and ``ops.rate_buckets``, idempotently, and the mismatch console's read-only
role (:data:`CONSOLE_ROLE`, see :func:`grant_console_role`).

Public functions (the CLI wires ``shipshape warehouse up|down|status`` to them)::

    up() -> str            # psycopg-usable URL of the ready warehouse
    down() -> str          # a message; stops the embedded server if it is running
    start_embedded(data_dir, port=) / stop_embedded(data_dir)   # the embedded server alone
    status() -> dict       # what is configured and whether it answers
    resolve_url() -> str | None
    mask_url(url) -> str   # the URL with any password replaced by ***

``python -m shipshape.warehouse up|down|status`` runs them without the CLI.

Passwords are never printed or logged: everything user-facing goes through :func:`mask_url`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

log = logging.getLogger(__name__)

CONN_ENV = "AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE"
DATA_DIR_ENV = "SHIPSHAPE_DATA_DIR"
PORT_ENV = "SHIPSHAPE_WAREHOUSE_PORT"

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")
EMBEDDED_DATABASE = "shipshape"
EMBEDDED_USER = "postgres"
EMBEDDED_HOST = "127.0.0.1"
DEFAULT_PORT = 55432
# The mismatch console reads the warehouse as this role: SELECT on marts, ops and raw._quarantine, nothing
# else, and one write, through ops.acknowledge_quarantine. Roles are per server, grants per database.
CONSOLE_ROLE = "shipshape_console"

BOOTSTRAP_SQL = """
create schema if not exists raw;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;
create schema if not exists ops;

-- Records a loader could not load, kept whole so they can be replayed.
create table if not exists raw._quarantine (
    id             bigserial primary key,
    source         text not null,
    stream         text not null,
    record_id      text,
    field          text,
    reason         text,
    payload        jsonb,
    run_id         text,
    quarantined_at timestamptz not null default now()
);
create index if not exists _quarantine_source_stream_idx on raw._quarantine (source, stream);

-- A person looked at a quarantined record and accepted it (the mismatch console's Data quality page):
-- the raw gate stops failing on that record; every other quarantined record still fails it. One row per
-- record, written only through ops.acknowledge_quarantine (the console's role may not insert).
create table if not exists ops.quarantine_acknowledgements (
    quarantine_id   bigint primary key references raw._quarantine (id) on delete cascade,
    acknowledged_by text not null check (btrim(acknowledged_by) <> ''),
    acknowledged_at timestamptz not null default now(),
    note            text
);

-- Incremental extraction cursors, one row per source stream.
create table if not exists ops.extraction_state (
    source      text not null,
    stream      text not null,
    cursor      jsonb,
    last_run_id text,
    updated_at  timestamptz not null default now(),
    primary key (source, stream)
);

-- Rate-limit buckets shared by the tasks that spend one account's budget (shipshape.ingest.limits).
create table if not exists ops.rate_buckets (
    key       text primary key,
    capacity  double precision not null,
    rate      double precision not null,
    available double precision not null,
    pending   double precision not null default 0,
    stamp     double precision not null
);
"""

# The console's role, made once per server (a LOGIN role without a password: on a server that asks for
# one, give it a password and set AIRFLOW_CONN_SHIPSHAPE_CONSOLE). Creating roles needs CREATEROLE; a
# warehouse user without it gets a notice, and the console then needs that connection to a role an
# administrator made. Default privileges cover what this user creates later (dbt's marts, the ops tables).
CONSOLE_SQL = f"""
do $console$
begin
    if not exists (select from pg_roles where rolname = '{CONSOLE_ROLE}') then
        begin
            create role {CONSOLE_ROLE} login nosuperuser nocreatedb nocreaterole noinherit;
        exception
            when duplicate_object or unique_violation then null;  -- another database's bootstrap won
            when insufficient_privilege then
                raise notice 'shipshape: cannot create the console role {CONSOLE_ROLE} (no CREATEROLE)';
                return;
        end;
    end if;
    -- once per server: ALTER ROLE from two bootstraps at once (parallel test workers, two databases)
    -- fails with "tuple concurrently updated"
    if not exists (select from pg_db_role_setting as s join pg_roles as r on r.oid = s.setrole
                   where r.rolname = '{CONSOLE_ROLE}' and s.setdatabase = 0
                   and 'default_transaction_read_only=on' = any(s.setconfig)) then
        begin
            alter role {CONSOLE_ROLE} set default_transaction_read_only = on;
        exception when insufficient_privilege or internal_error then null;  -- the other one set it
        end;
    end if;
    grant usage on schema marts, ops, raw to {CONSOLE_ROLE};
    grant select on all tables in schema marts, ops to {CONSOLE_ROLE};
    grant select on raw._quarantine to {CONSOLE_ROLE};
    alter default privileges in schema marts, ops grant select on tables to {CONSOLE_ROLE};
    grant execute on function ops.acknowledge_quarantine(bigint, text, text) to {CONSOLE_ROLE};
exception when insufficient_privilege then
    raise notice 'shipshape: cannot grant the console role {CONSOLE_ROLE} its reads (%)', sqlerrm;
end
$console$;
"""

# The one write the console makes: a person acknowledges a quarantined record. SECURITY DEFINER, so the
# console's role needs no INSERT on any table; it checks the record exists and names it when it does not.
ACKNOWLEDGE_SQL = """
create or replace function ops.acknowledge_quarantine(record bigint, who text, note text default null)
returns ops.quarantine_acknowledgements
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    acknowledged ops.quarantine_acknowledgements;
begin
    if who is null or btrim(who) = '' then
        raise exception 'acknowledging raw._quarantine id %: acknowledged_by is empty', record;
    end if;
    if not exists (select from raw._quarantine as q where q.id = record) then
        raise exception 'raw._quarantine has no record with id %', record;
    end if;
    insert into ops.quarantine_acknowledgements (quarantine_id, acknowledged_by, note)
    values (record, btrim(who), nullif(btrim(note), ''))
    on conflict (quarantine_id) do nothing;  -- acknowledged already: the first acknowledgement stands
    select * into acknowledged from ops.quarantine_acknowledgements where quarantine_id = record;
    return acknowledged;
end $$;
revoke all on function ops.acknowledge_quarantine(bigint, text, text) from public;
"""

# Query parameters of an Airflow URI that libpq understands; every other extra is Airflow's business.
_LIBPQ_PARAMS = frozenset(
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
_POSTGRES_SCHEMES = {"postgres", "postgresql"}


# --------------------------------------------------------------------------- connection parsing


def resolve_url(env: Mapping[str, str] | None = None, *, var: str = CONN_ENV) -> str | None:
    """The warehouse URL from ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE`` (or another Postgres connection's
    variable ``var``), or None when it is unset.

    Accepts Airflow's URI and JSON connection forms and returns a ``postgresql://`` URL that
    psycopg (and libpq) accept. Raises ValueError for a connection that is not Postgres.
    """
    raw = (os.environ if env is None else env).get(var, "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return _url_from_json(raw, var)
    return _url_from_uri(raw, var)


def _url_from_json(raw: str, var: str = CONN_ENV) -> str:
    try:
        conn = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{var} is not valid JSON: {exc.msg}") from None
    conn_type = str(conn.get("conn_type") or "postgres").lower()
    if conn_type not in _POSTGRES_SCHEMES:
        raise ValueError(f"{var} has conn_type {conn_type!r}; shipshape needs a postgres connection")
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    params = {k: str(v) for k, v in extra.items() if k in _LIBPQ_PARAMS}
    return build_url(
        host=conn.get("host"),
        port=conn.get("port"),
        user=conn.get("login"),
        password=conn.get("password"),
        database=conn.get("schema"),
        params=params,
    )


def _url_from_uri(raw: str, var: str = CONN_ENV) -> str:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower().split("+", 1)[0]  # tolerate postgresql+psycopg2://
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError(f"{var} has scheme {parts.scheme!r}; shipshape needs a postgres connection")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            extra = json.loads(value) if value else {}
            params.update({k: str(v) for k, v in extra.items() if k in _LIBPQ_PARAMS})
        elif key in _LIBPQ_PARAMS or key in {"host", "port"}:
            params[key] = value
    # Airflow percent-encodes the host, so a socket directory arrives as %2Ftmp%2F...; urlsplit's
    # .hostname would lowercase it, so take the raw netloc.
    host = unquote(parts.netloc.rpartition("@")[2].rsplit(":", 1)[0]) if parts.netloc else None
    if host and host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return build_url(
        host=params.pop("host", None) or host,
        port=params.pop("port", None) or parts.port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=unquote(parts.path.lstrip("/")) if parts.path.strip("/") else None,
        params=params,
    )


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


# --------------------------------------------------------------------------- bootstrap


def bootstrap(url: str) -> None:
    """Create the warehouse schemas and shared tables in ``url``, idempotently and race-free."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        # Concurrent `create schema if not exists` can still collide; serialise bootstraps.
        conn.execute("select pg_advisory_xact_lock(hashtext('shipshape.warehouse.bootstrap'))")
        conn.execute(BOOTSTRAP_SQL)
        conn.execute(ACKNOWLEDGE_SQL)
        conn.execute(CONSOLE_SQL)


def set_console_password(url: str, password: str) -> None:
    """Give the console's role ``password`` (as the warehouse's owner at ``url``), for a server that asks
    for one: ``shipshape console`` does this with the password of ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE`` when
    that connection logs in as the role (docker-compose.yaml's console service)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(CONSOLE_ROLE), sql.Literal(password)))


def up(*, data_dir: str | os.PathLike[str] | None = None, port: int | None = None) -> str:
    """Make the warehouse ready and return its URL (password included; print it with mask_url).

    With ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE`` set, connect to it and bootstrap. Otherwise start
    (or reuse) the embedded server (see :func:`start_embedded`) and bootstrap its ``shipshape``
    database.
    """
    url = resolve_url()
    if url is None:
        url = start_embedded(data_dir, port=port)
    bootstrap(url)
    log.info("warehouse ready at %s", mask_url(url))
    return url


def down(*, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Stop the embedded server if it is running, and say what happened.

    A warehouse given by ``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE`` is never touched.
    """
    note = f" ({CONN_ENV} is set; that warehouse is not managed here)" if resolve_url() else ""
    return stop_embedded(data_dir) + note


def status(*, data_dir: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """Where the warehouse is and whether it answers. Safe to print: the URL is masked."""
    url = resolve_url()
    pgdata = embedded_data_dir(data_dir)
    result: dict[str, object] = {}
    if url is not None:
        result.update(mode="connection", source=CONN_ENV, url=mask_url(url))
    else:
        info = _running_postmaster(pgdata)
        result.update(mode="embedded", data_dir=str(pgdata), initialised=(pgdata / "PG_VERSION").exists())
        result["running"] = info is not None
        if info is not None:
            url = _embedded_url(info.port)
            result.update(pid=info.pid, url=mask_url(url), socket_url=_embedded_socket_url(info))
    if url is not None:
        result.update(_probe(url))
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


# --------------------------------------------------------------------------- embedded server


def project_root() -> Path:
    """The checkout this module lives in (the folder with pyproject.toml), else the working dir."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return Path.cwd()


def embedded_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The embedded server's PGDATA: ``data_dir``, else ``$SHIPSHAPE_DATA_DIR/warehouse``, else
    ``<project>/.data/warehouse``."""
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    base = os.environ.get(DATA_DIR_ENV)
    root = Path(base).expanduser() if base else project_root() / ".data"
    return (root / "warehouse").resolve()


def _embedded_url(port: int | None) -> str:
    return build_url(host=EMBEDDED_HOST, port=port, user=EMBEDDED_USER, database=EMBEDDED_DATABASE)


def _embedded_socket_url(info) -> str | None:
    if info.socket_dir is None:
        return None
    return build_url(
        host=str(info.socket_dir), port=info.port, user=EMBEDDED_USER, database=EMBEDDED_DATABASE
    )


def _pgserver():
    """Import pgserver quietly (platformdirs warns when XDG_RUNTIME_DIR is unset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands
        import pgserver.utils

    return pgserver


@contextlib.contextmanager
def _lock(pgdata: Path) -> Iterator[None]:
    """One process at a time starts or stops a given embedded server."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(pgdata.parent / f".{pgdata.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver then runs it as a dedicated user, and so do we."""
    if os.geteuid() != 0:
        return None
    pgserver = _pgserver()
    pgserver.utils.ensure_user_exists("pgserver")
    return "pgserver"


def _pg_ctl(pgdata: Path, args: list[str]) -> str:
    pgserver = _pgserver()
    return pgserver.pg_ctl(args, pgdata=pgdata, user=_system_user(), timeout=90)


def _running_postmaster(pgdata: Path):
    """pgserver's PostmasterInfo for a live, ready server on ``pgdata``, else None."""
    pgserver = _pgserver()
    try:
        info = pgserver.utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # half-written or foreign postmaster.pid
        return None
    if info is None or not info.is_running():
        return None
    try:  # a stale pid file whose pid now belongs to something else
        if info.process.name() != "postgres":
            return None
    except Exception:
        return None
    return info if info.status == "ready" else None


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # as postgres does: a port whose old connections linger in TIME_WAIT is still usable
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((EMBEDDED_HOST, candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _configured_port(pgdata: Path) -> int | None:
    conf = pgdata / "postgresql.conf"
    found = None
    for line in conf.read_text().splitlines():
        match = re.match(r"\s*port\s*=\s*(\d+)", line)
        if match:
            found = int(match.group(1))
    return found


def _set_conf(pgdata: Path, port: int) -> None:
    """Record shipshape's settings at the end of postgresql.conf (the last setting wins)."""
    conf = pgdata / "postgresql.conf"
    marker = "# --- shipshape ---"
    text = conf.read_text()
    if marker in text:
        text = text[: text.index(marker)]
    text = text.rstrip("\n") + f"\n\n{marker}\nlisten_addresses = '{EMBEDDED_HOST}'\nport = {port}\n"
    conf.write_text(text)


def _initdb(pgdata: Path) -> None:
    pgserver = _pgserver()
    user = _system_user()
    if user is not None:
        import pwd

        # The same preparation pgserver does before running postgres as another user.
        pgserver.utils.ensure_prefix_permissions(pgdata)
        bin_dir = pgserver._commands.POSTGRES_BIN_PATH
        pgserver.utils.ensure_prefix_permissions(bin_dir)
        pgserver.utils.ensure_folder_permissions(bin_dir, 0o055)
        pgserver.utils.ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgserver.initdb(
        ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", EMBEDDED_USER],
        pgdata=pgdata,
        user=user,
    )


def start_embedded(data_dir: str | os.PathLike[str] | None = None, *, port: int | None = None) -> str:
    """Start the embedded server on ``data_dir`` (or reuse it if running); return its URL.

    ``data_dir`` is the PGDATA, default :func:`embedded_data_dir`. The TCP port on 127.0.0.1 is
    ``port``, else ``$SHIPSHAPE_WAREHOUSE_PORT``, else the one it used last time, else 55432; 0
    means the one from last time or any free one. A taken port falls back to a free one. The URL points
    at database ``shipshape``, created empty if missing; nothing else is bootstrapped here.
    """
    pgdata = embedded_data_dir(data_dir)
    if port is None and os.environ.get(PORT_ENV):
        port = int(os.environ[PORT_ENV])
    with _lock(pgdata):
        info = _running_postmaster(pgdata)
        if info is None:
            info = _start(pgdata, port)
        url = _embedded_url(info.port)
    _ensure_database(url)
    return url


def embedded_running(data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether the embedded server on ``data_dir`` (default :func:`embedded_data_dir`) is up."""
    return _running_postmaster(embedded_data_dir(data_dir)) is not None


def stop_embedded(data_dir: str | os.PathLike[str] | None = None) -> str:
    """Stop the embedded server on ``data_dir`` if it is running (its data stays); say what happened."""
    pgdata = embedded_data_dir(data_dir)
    with _lock(pgdata):
        info = _running_postmaster(pgdata)
        if info is None:
            return f"no embedded warehouse running in {pgdata}"
        _pg_ctl(pgdata, ["-w", "-t", "60", "-m", "fast", "stop"])
    return f"stopped the embedded warehouse in {pgdata} (pid {info.pid})"


def _start(pgdata: Path, port: int | None):
    pgserver = _pgserver()
    pgdata.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        log.info("initialising embedded warehouse in %s", pgdata)
        _initdb(pgdata)
    configured = _configured_port(pgdata)
    if not port and configured is not None:
        port = configured  # keep last time's port, so URLs handed out earlier stay valid
    chosen = _free_port(DEFAULT_PORT if port is None else port)
    if chosen != configured:
        _set_conf(pgdata, chosen)
    runtime_dir = Path(pgserver.PostgresServer.runtime_path)
    socket_dir = pgserver.utils.find_suitable_socket_dir(pgdata, runtime_dir)
    if _system_user() is not None and socket_dir != pgdata:
        pgserver.utils.ensure_prefix_permissions(socket_dir)
        socket_dir.chmod(0o777)
    log.info("starting embedded warehouse on %s:%s", EMBEDDED_HOST, chosen)
    try:
        _pg_ctl(pgdata, ["-w", "-t", "60", "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"])
    except subprocess.CalledProcessError:
        logfile = pgdata / "log"
        tail = "\n".join(logfile.read_text().splitlines()[-20:]) if logfile.exists() else ""
        raise RuntimeError(f"embedded warehouse failed to start; end of {logfile}:\n{tail}") from None
    info = _running_postmaster(pgdata)
    if info is None:
        raise RuntimeError(f"embedded warehouse in {pgdata} did not become ready")
    return info


def _ensure_database(url: str) -> None:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [EMBEDDED_DATABASE]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'create database "{EMBEDDED_DATABASE}"')


# --------------------------------------------------------------------------- module runner


def main(argv: list[str] | None = None) -> int:
    """``python -m shipshape.warehouse up|down|status`` (the CLI offers the same as ``shipshape warehouse``)."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    if command == "up":
        print(f"warehouse ready: {mask_url(up())}")
    elif command == "down":
        print(down())
    elif command == "status":
        print(json.dumps(status(), indent=2))
    else:
        print("usage: python -m shipshape.warehouse up|down|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
