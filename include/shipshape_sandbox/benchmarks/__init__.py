"""Benchmark scripts: each prints its figures; results are recorded in docs/benchmarks.md.

Every benchmark measures in databases of its own on the given server, made here and dropped after.
A world's raw dump (an hour at a million orders) is kept as a template database, see
:func:`raw_database`.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

log = logging.getLogger(__name__)

# what the raw rows of a dump depend on: the world and the APIs serving it (this package, but for the
# benchmarks and dump.py, which only runs them) and the extraction landing it (the product's sources and
# ingest), as folders under include/
_DUMP_CODE = ("shipshape_sandbox", "shipshape/sources", "shipshape/ingest")
_NOT_DUMP_CODE = ("shipshape_sandbox/benchmarks", "shipshape_sandbox/dump.py", "shipshape_sandbox/demo.py",
                  "shipshape_sandbox/cli.py", "shipshape_sandbox/__main__.py")


def scratch_database(server_url: str, prefix: str = "shipshape_bench") -> str:
    """A new, bootstrapped database on `server_url`'s server; returns its URL."""
    from shipshape import warehouse

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    warehouse.bootstrap(url)
    return url


def drop_database(url: str) -> None:
    """Drop the database `url` points at, whoever is still connected."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _dump_code_hash() -> str:
    include = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for folder in _DUMP_CODE:
        for path in sorted((include / folder).rglob("*.py")):
            name = path.relative_to(include).as_posix()
            if name.startswith(_NOT_DUMP_CODE):
                continue
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def raw_database(server_url: str, orders: int, seed: int, dump: Callable[[str], object],
                 prefix: str = "shipshape_bench") -> tuple[str, bool]:
    """A new database holding the raw dump of the world (orders, seed); returns its URL and whether the
    dump was reused.

    The first call dumps (``dump(url)``) into a template database named after the world and a hash of
    the code a dump depends on, vacuumed and analyzed; every call then clones the template. Changing the
    sandbox, a source or the loader makes a new template; drop old ones with ``drop database`` (their
    names start with ``shipshape_bench_raw_``).
    """
    from shipshape import warehouse

    template = f"shipshape_bench_raw_{orders}_{seed}_{_dump_code_hash()}"
    server = urlsplit(server_url)
    with psycopg.connect(server_url, autocommit=True) as conn:
        reused = conn.execute("select 1 from pg_database where datname = %s", (template,)).fetchone() is not None
        if not reused:
            partial = template + "_partial"
            conn.execute(f'drop database if exists "{partial}" with (force)')
            conn.execute(f'create database "{partial}"')
            partial_url = urlunsplit(server._replace(path="/" + partial))
            try:
                warehouse.bootstrap(partial_url)
                started = time.monotonic()
                dump(partial_url)
                log.warning("raw dump of %d orders took %.1f s", orders, time.monotonic() - started)
                with psycopg.connect(partial_url, autocommit=True) as dumped:
                    dumped.execute("vacuum analyze")
            except BaseException:
                conn.execute(f'drop database if exists "{partial}" with (force)')
                raise
            conn.execute(f'alter database "{partial}" rename to "{template}"')
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn.execute(f'create database "{name}" template "{template}"')
    return urlunsplit(server._replace(path="/" + name)), reused


def dumped_port(url: str) -> int | None:
    """The port the sandbox served the dump in ``url`` from (PayPal's links carry its address), so that a
    later dump of the same world can use it again (see :func:`shipshape_sandbox.dump.dump_raw`)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select substring(payload::text from 'https?://[^/:\"]+:([0-9]+)/') from raw.paypal__trackers"
            " where payload::text like '%%http%%' limit 1").fetchone()
    return int(row[0]) if row and row[0] else None
