"""Benchmark scripts: each prints its figures; results are recorded in docs/benchmarks.md.

Every benchmark measures in databases of its own on the given server, made here and dropped after.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg


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
