"""Shared pytest fixtures. Add yours here, each with a docstring that says what it gives.

Databases: tests run against a real PostgreSQL, never a mock.

* ``SHIPSHAPE_TEST_DATABASE_URL`` set (CI sets ``postgresql://postgres@127.0.0.1:5432/postgres``):
  each test session (each xdist worker) creates its own uniquely named database on that server and
  drops it at the end. The URL's user must be allowed to create databases.
* unset: an embedded PostgreSQL (pgserver) in a temporary directory, stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from shipshape import warehouse

TEST_DATABASE_ENV = "SHIPSHAPE_TEST_DATABASE_URL"
REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when it is first imported, so it is set here, before any test imports
# it: each test session (each xdist worker) gets its own Airflow home and SQLite metadata database, and
# sees this repository's dags/.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="shipshape-airflow-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """An initialised Airflow metadata database (for `dag.test()`); returns AIRFLOW_HOME."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   timeout=300, env=os.environ.copy())
    return os.environ["AIRFLOW_HOME"]


def _url_with_database(url: str, database: str) -> str:
    """``url`` (a ``postgresql://`` URL) pointing at ``database`` instead."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def _create_database(server_url: str, prefix: str = "shipshape_test") -> str:
    """Create an empty, uniquely named database on ``server_url``'s server; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _url_with_database(server_url, name)


def _drop_database(url: str) -> None:
    """Drop the database ``url`` points at, disconnecting anyone still in it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_url_with_database(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``postgresql://``, host/port) of an empty database for this test session.

    Nothing is bootstrapped: call ``shipshape.warehouse.bootstrap(url)`` for the schemas. The
    database is shared by every test of the session (of the xdist worker), so tests should not
    assume they are alone in it.
    """
    server_url = os.environ.get(TEST_DATABASE_ENV)
    if server_url:
        url = _create_database(server_url)
        try:
            yield url
        finally:
            _drop_database(url)
    else:
        pgdata = tmp_path_factory.mktemp("warehouse") / "pgdata"
        try:
            yield warehouse.start_embedded(pgdata, port=0)
        finally:
            warehouse.stop_embedded(pgdata)


@pytest.fixture
def fresh_database(warehouse_url: str) -> Iterator[str]:
    """URL of an empty database of the test's own, on the same server as ``warehouse_url``."""
    url = _create_database(_url_with_database(warehouse_url, "postgres"), prefix="shipshape_fresh")
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def airflow_metadata_database(warehouse_url: str) -> Iterator[str]:
    """URL (``postgresql://``) of an empty database of the test's own for an Airflow deployment's
    metadata (``shipshape.airflow_runtime.AirflowDeployment``), on the same server as ``warehouse_url``;
    dropped after the test (stop the deployment first)."""
    url = _create_database(_url_with_database(warehouse_url, "postgres"), prefix="shipshape_airflow")
    try:
        yield url
    finally:
        _drop_database(url)


def clone_database(template_url: str, prefix: str = "shipshape_clone") -> str:
    """A new, uniquely named database on ``template_url``'s server, a copy of that database (``create
    database ... template``: a file copy, much faster than rebuilding what it holds); returns its URL. Any
    session still open on the template (a pooled connection) is ended first, as Postgres requires."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = urlsplit(template_url).path.lstrip("/")
    with psycopg.connect(_url_with_database(template_url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s"
                     " and pid <> pg_backend_pid()", (template,))
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                     sql.Identifier(template)))
    return _url_with_database(template_url, name)


@pytest.fixture(scope="module")
def module_database(warehouse_url: str) -> Iterator[str]:
    """URL of an empty database shared by the tests of one module (state built once, e.g. a template that
    each test clones with ``clone_of``), on the same server as ``warehouse_url``."""
    url = _create_database(_url_with_database(warehouse_url, "postgres"), prefix="shipshape_module")
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture(scope="session")
def new_database(warehouse_url: str) -> Iterator:
    """A function that creates an empty, uniquely named database on ``warehouse_url``'s server and returns
    its URL (``prefix`` names it); every database it made is dropped at the end of the session."""
    made: list[str] = []

    def create(prefix: str = "shipshape_extra") -> str:
        made.append(_create_database(_url_with_database(warehouse_url, "postgres"), prefix=prefix))
        return made[-1]

    try:
        yield create
    finally:
        for url in made:
            _drop_database(url)


@pytest.fixture
def clone_of() -> Iterator:
    """``clone_of(template_url)``: a copy of that database for this test (:func:`clone_database`),
    dropped at the end of the test."""
    made: list[str] = []

    def clone(template_url: str) -> str:
        made.append(clone_database(template_url))
        return made[-1]

    yield clone
    for url in made:
        _drop_database(url)


@pytest.fixture(scope="module")
def one_airflow_at_a_time() -> Iterator[None]:
    """Holds a machine-wide lock while a module's Airflow deployment runs. On two cores, two deployments at
    once (xdist's two workers each running one) starve each other's tasks into timeouts; xdist's own
    grouping (``--dist loadgroup``) did not keep them apart here, and ``--dist loadfile`` (`make test`)
    keeps only each file together."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / "shipshape-airflow-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _serving(stand_in):
    """Serve a stand-in (its `server` on its `thread`) for a fixture's scope, then shut it down."""
    stand_in.thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


class SmtpStandIn:
    """A minimal SMTP server on loopback (Python 3.11 has no smtpd, and aiosmtpd is not installed): EHLO,
    AUTH PLAIN (any credentials, kept in `logins`), MAIL, RCPT, DATA; every message is kept, parsed, in
    `messages` (each an `email.message.Message` with its envelope recipients in `rcpt`)."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.messages: list = []
        self.logins: list[str] = []
        stand_in = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                import base64
                import email
                import email.policy

                self.reply("220 shipshape-test ESMTP")
                rcpt: list[str] = []
                while line := self.rfile.readline():
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-shipshape-test")
                        self.reply("250 AUTH PLAIN")
                    elif verb == "AUTH":
                        stand_in.logins.append(base64.b64decode(command.split()[-1]).decode("utf-8", "replace"))
                        self.reply("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        rcpt = []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        rcpt.append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        body = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            body.append(data[1:] if data.startswith(b"..") else data)
                        message = email.message_from_bytes(b"".join(body), policy=email.policy.default)
                        message.rcpt = list(rcpt)
                        stand_in.messages.append(message)
                        self.reply("250 OK: queued")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:  # RSET, NOOP, …
                        self.reply("250 OK")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    password = "smtp-pass-9f3Kq2Lw"  # what the connection carries; no message or log may hold it

    def connection(self, **extra) -> str:
        """An Airflow SMTP connection (JSON form) to this server, with `extra` in its extra."""
        import json

        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "login": "alerts",
                           "password": self.password, "extra": {"disable_tls": True, "disable_ssl": True,
                                                                     "timeout": 10, "retry_limit": 1, **extra}})

    def texts(self) -> list[str]:
        """Each message whole: headers and every decoded part."""
        out = []
        for message in self.messages:
            parts = [p.get_payload(decode=True) or b"" for p in message.walk() if not p.is_multipart()]
            out.append(message.as_string() + "\n" + "\n".join(p.decode("utf-8", "replace") for p in parts))
        return out


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpStandIn]:
    """A local SMTP server (:class:`SmtpStandIn`) for the module's tests (each clears `messages` as it
    needs); `.connection()` is an Airflow connection to it."""
    yield from _serving(SmtpStandIn())


class WebhookStandIn:
    """A recording HTTP server on loopback standing in for Slack's incoming webhooks: every POST is kept
    (`posts`: path and JSON body) and answered `200 ok`, as Slack does; `fail` makes it answer 500."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[dict] = []
        self.fail = False
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = (500, b"internal_error") if stand_in.fail else (200, b"ok")
                if not stand_in.fail:
                    stand_in.posts.append({"path": self.path, "body": json.loads(body or b"{}")})
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    token = "T0TEST/B0TEST/slack-token-Zx81Qp"

    def connection(self) -> str:
        """An Airflow Slack incoming-webhook connection (JSON form) posting to this server."""
        import json

        return json.dumps({"conn_type": "slackwebhook", "host": f"{self.base_url}/services", "password": self.token})


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[WebhookStandIn]:
    """A recording HTTP server (:class:`WebhookStandIn`) standing in for Slack's incoming webhooks, for the
    module's tests (each clears `posts` as it needs)."""
    yield from _serving(WebhookStandIn())
