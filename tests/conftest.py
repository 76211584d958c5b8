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
