"""The embedded warehouse: a PostgreSQL 16 from the ``pgserver`` package (it bundles the binaries).

Its data lives in ``.data/warehouse/`` in the project (``$SHIPSHAPE_DATA_DIR/warehouse`` when that is
set). The server outlives the process that started it, so ``shipshape warehouse up`` followed by any later
command reuses it, until ``shipshape warehouse down``. It listens on a unix socket in its data directory
*and* on ``127.0.0.1:<port>`` (port 55432, or ``$SHIPSHAPE_WAREHOUSE_PORT``, or a free one if that is
taken; the choice is kept in the server's ``postgresql.conf``) so that dbt and Airflow can use an ordinary
host/port connection. Auth is ``trust`` for local connections, user ``postgres``, database ``shipshape``.

:func:`start_embedded` starts it (or finds it running), :func:`stop_embedded` stops it, and
:func:`running_connection` says where it listens if it is up, starting nothing. Nothing here bootstraps.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

from shipshape.connections import Connection
from shipshape.warehouse.connection import CONN_ID, build_url, mask_url

log = logging.getLogger(__name__)

DATA_DIR_ENV = "SHIPSHAPE_DATA_DIR"
PORT_ENV = "SHIPSHAPE_WAREHOUSE_PORT"
EMBEDDED_DATABASE = "shipshape"
EMBEDDED_USER = "postgres"
EMBEDDED_HOST = "127.0.0.1"
DEFAULT_PORT = 55432


def project_root() -> Path:
    """The checkout this module lives in (the folder with pyproject.toml), else the working dir."""
    for candidate in (Path(__file__).resolve().parents[3], Path.cwd()):
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


def running_connection(data_dir: str | os.PathLike[str] | None = None) -> Connection | None:
    """The embedded warehouse as a connection if its server on ``data_dir`` is up and ready, else None.
    Reads the server's ``postmaster.pid``; starts nothing, creates nothing."""
    pgdata = embedded_data_dir(data_dir)
    if not (pgdata / "postmaster.pid").exists():  # the common case in a worker: not even pgserver's import
        return None
    info = _running_postmaster(pgdata)
    if info is None:
        return None
    return Connection(CONN_ID, "postgres", EMBEDDED_HOST, info.port, EMBEDDED_DATABASE, EMBEDDED_USER)


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


def embedded_state(data_dir: str | os.PathLike[str] | None = None) -> tuple[dict[str, object], str | None]:
    """What ``shipshape warehouse status`` says of the embedded server on ``data_dir``, with its URL when it
    runs (else None); the state is safe to print (its URL masked)."""
    pgdata = embedded_data_dir(data_dir)
    info = _running_postmaster(pgdata)
    state: dict[str, object] = {"mode": "embedded", "data_dir": str(pgdata),
                                "initialised": (pgdata / "PG_VERSION").exists(), "running": info is not None}
    if info is None:
        return state, None
    url = _embedded_url(info.port)
    state.update(pid=info.pid, url=mask_url(url), socket_url=_embedded_socket_url(info))
    return state, url


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
