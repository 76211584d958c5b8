"""Fixtures for the quality gate tests: a warehouse built once by the real pipeline, cloned per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from shipshape import dbt, warehouse
from shipshape.quality import GateSettings
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.world import World

ORDERS = 300
SEED = 7


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=10)


@pytest.fixture(scope="session")
def built_world() -> World:
    """The sandbox world the built warehouse holds (its clock is the as-of the marts were built at)."""
    return build_world(ORDERS, seed=SEED)


@pytest.fixture(scope="session")
def built_warehouse(warehouse_url: str, built_world: World, tmp_path_factory) -> Iterator[str]:
    """URL of a database filled by the real pipeline: `dump_raw` (every stream through `run_stream`, run id
    "sandbox-dump-raw") then dbt (seeds and models) as of the world clock. Tests never touch it: they
    take a `built_clone`."""
    name = f"shipshape_quality_{uuid.uuid4().hex[:10]}"
    with _admin(warehouse_url) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = _with_database(warehouse_url, name)
    try:
        warehouse.bootstrap(url)
        dump_raw(built_world, url)
        target = tmp_path_factory.mktemp("dbt")
        result = dbt.run(["build", "--resource-type", "seed", "--resource-type", "model"], url=url,
                         as_of=built_world.clock, target_path=target / "target", log_path=target / "logs", echo=False)
        assert result.success, result.output[-3000:]
        yield url
    finally:
        with _admin(warehouse_url) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def built_clone(built_warehouse: str) -> Iterator[str]:
    """A copy of `built_warehouse` of the test's own (CREATE DATABASE ... TEMPLATE: well under a second)."""
    name = f"shipshape_qclone_{uuid.uuid4().hex[:10]}"
    template = urlsplit(built_warehouse).path.lstrip("/")
    with _admin(built_warehouse) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
    url = _with_database(built_warehouse, name)
    try:
        yield url
    finally:
        with _admin(built_warehouse) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def gate_settings(tmp_path: Path) -> GateSettings:
    """Default thresholds, Data Docs in the test's own folder."""
    return GateSettings(data_docs_dir=tmp_path / "data_docs")
