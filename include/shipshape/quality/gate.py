"""Run a quality gate: one suite of :mod:`shipshape.quality.suites` through Great Expectations, its
results into `ops` and into Data Docs, and an exception when any expectation failed.

    from shipshape.quality.gate import run_gate, QualityGateFailed
    result = run_gate("raw", warehouse_url, as_of=as_of, run_id=run_id)   # after ingest, before dbt
    result = run_gate("marts", warehouse_url, as_of=as_of, run_id=run_id) # after dbt, before the push

GX runs in an ephemeral context built per call: a Postgres data source on the warehouse, one query
asset per :class:`~shipshape.quality.suites.Asset`, one validation definition per asset, all in one
checkpoint whose action rebuilds the Data Docs site in the configured folder. Nothing is kept in a GX
project folder: the suites are code, the history is in `ops`. GX only reports; the gate decides, so a
failure raises :class:`QualityGateFailed` whatever GX (or an operator wrapping it) would do by default.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg

from shipshape import warehouse
from shipshape.quality import store
from shipshape.quality.settings import GateSettings

log = logging.getLogger(__name__)

SUITES = ("raw", "marts")
DOCS_SITE = "shipshape"

# GX's usage statistics are off (no network at runtime); set before GX is first imported.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


class QualityGateFailed(RuntimeError):
    """At least one expectation failed; the message names each one and what was observed."""

    def __init__(self, message: str, result: GateResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # the check's stable name, "<asset>: <what>"
    asset: str
    expectation_type: str
    success: bool
    observed_value: Any  # JSON-able: GX's observed_value, or the unexpected count and examples
    details: dict[str, Any] = field(default_factory=dict)  # the expectation's kwargs and meta

    def as_dict(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "asset": self.asset, "expectation_type": self.expectation_type,
                "success": self.success, "observed_value": self.observed_value, "details": self.details}

    def describe(self) -> str:
        return f"{self.expectation} [{self.expectation_type}]: observed {_short(self.observed_value)}"


@dataclass(frozen=True)
class GateResult:
    suite: str
    run_id: str
    as_of: datetime
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs_index: Path | None
    seconds: float

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        head = (f"quality gate {self.suite!r} {'passed' if self.success else 'FAILED'}: "
                f"{len(self.failures)} of {len(self.outcomes)} expectations failed "
                f"(run {self.run_id}, as of {self.as_of.isoformat()})")
        return "\n".join([head, *(f"  - {o.describe()}" for o in self.failures)])


def run_gate(suite: str, warehouse_url: str | None = None, *, as_of: datetime, run_id: str,
             settings: GateSettings | None = None) -> GateResult:
    """Validate ``suite`` ("raw" or "marts") on the warehouse as of ``as_of`` for the run ``run_id``.

    Writes one row per expectation to ``ops.quality_results`` and one to ``ops.quality_runs``, rebuilds
    the Data Docs site (its index path is logged) and, for "marts", records the run's mismatch rate in
    ``ops.quality_mismatch_rates``. Returns the result when every expectation passed; raises
    :class:`QualityGateFailed` (with the result attached) when any failed. ``warehouse_url`` defaults to
    the ``shipshape_warehouse`` connection (:func:`shipshape.warehouse.url`).
    """
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(SUITES)}, not {suite!r}")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be time-zone aware")
    # a plain datetime: Airflow hands over pendulum's DateTime, which GX serialises without its zone
    as_of = datetime.fromtimestamp(as_of.timestamp(), tz=UTC)
    settings = settings or GateSettings.from_env()
    url = warehouse_url or warehouse.url()
    started_at = datetime.now(UTC)
    clock = time.monotonic()

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        store.ensure_tables(conn)
        if suite == "raw":
            from shipshape.ingest.loader import OPS_DDL

            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext('shipshape.ops_ddl'))")
                conn.execute(OPS_DDL)
        definition = _build_suite(conn, suite, as_of=as_of, run_id=run_id, settings=settings)
        if suite == "marts":
            # recorded whatever the outcome, so that a new normal becomes the median after a few runs
            store.record_mismatch_rate(conn, run_id=run_id, as_of=as_of)

    log.info("quality gate %r: %d expectations over %d assets as of %s (warehouse %s)", suite,
             len(definition.checks), len(definition.assets), as_of.isoformat(), warehouse.mask_url(url))
    outcomes, index = _validate(definition, url, run_id=run_id, settings=settings)
    success = all(o.success for o in outcomes)
    result = GateResult(suite, run_id, as_of, success, tuple(outcomes), index, round(time.monotonic() - clock, 3))

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        store.save_results(conn, run_id=run_id, suite=suite, as_of=as_of, success=success,
                           results=[o.as_dict() for o in outcomes], data_docs=str(index) if index else None,
                           started_at=started_at, finished_at=datetime.now(UTC))
    log.info("quality gate %r: Data Docs at %s", suite, index)
    if not success:
        message = result.summary()
        log.error("%s", message)
        raise QualityGateFailed(message, result)
    log.info("%s (%.1f s)", result.summary(), result.seconds)
    return result


def _build_suite(conn: psycopg.Connection, suite: str, *, as_of: datetime, run_id: str, settings: GateSettings):
    from shipshape.quality import suites

    if suite == "raw":
        tables = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'")}
        since = store.last_passing_as_of(conn, "raw", before=as_of, run_id=run_id)
        log.info("quality gate 'raw': judging ingest runs with window end in (%s, %s]",
                 since.isoformat() if since else "the beginning", as_of.isoformat())
        judged = suites.judged_runs_by_table(conn.execute(suites.judged_runs_sql(as_of, since)))
        return suites.raw_suite(as_of=as_of, since=since, tables=tables, judged_runs=judged, settings=settings)
    history = store.mismatch_history(conn, before=as_of, run_id=run_id, window=settings.mismatch_window)
    return suites.marts_suite(as_of=as_of, settings=settings, history=history)


def _sqlalchemy_url(url: str) -> str:
    """The warehouse URL for SQLAlchemy (psycopg 3 driver); libpq query parameters such as a socket
    ``host`` pass through unchanged."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _context(settings: GateSettings):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    docs = settings.data_docs_dir
    docs.mkdir(parents=True, exist_ok=True)
    stores = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    # The validation results persist (the rest of the context is built per gate), so that the site's
    # index lists every gate of every run, not only the last gate's
    stores.stores[stores.validation_results_store_name]["store_backend"] = {
        "class_name": "TupleFilesystemStoreBackend", "base_directory": str(settings.validation_results_dir)}
    config = DataContextConfig(
        store_backend_defaults=stores,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
            # it lists every result in the store, which _forget_old_validations bounds
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _forget_old_validations(context, keep: int) -> None:
    """Drop the validation results beyond the newest ``keep``, with their pages: the site lists what the
    store holds, and the store would otherwise grow with every run."""
    store = context.validation_results_store
    keys = sorted(store.list_keys(), key=lambda k: k.run_id.run_time, reverse=True)
    for key in keys[keep:]:
        for site in context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE, only_if_exists=True):
            page = urlsplit(site.get("site_url") or "")
            if page.scheme == "file":
                Path(unquote(page.path)).unlink(missing_ok=True)
        store.remove_key(key)


def _validate(definition, url: str, *, run_id: str, settings: GateSettings) -> tuple[list[ExpectationOutcome], Path]:
    import great_expectations as gx
    context = _context(settings)
    source = context.data_sources.add_postgres("shipshape_warehouse", connection_string=_sqlalchemy_url(url))
    validations = []
    by_asset: dict[str, list] = {}
    for check in definition.checks:
        by_asset.setdefault(check.asset, []).append(check)
    for asset_name, checks in by_asset.items():
        asset = source.add_query_asset(asset_name, query=definition.assets[asset_name].query)
        batch = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{definition.name}-{asset_name}",
                                                       expectations=[c.expectation for c in checks]))
        validations.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{definition.name}-{asset_name}", data=batch, suite=suite)))
    # No UpdateDataDocsAction: it rebuilds the whole site once per validation definition (6 s of the
    # raw gate's 9); one build after the run writes the same site.
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"shipshape_{definition.name}", validation_definitions=validations,
        result_format={"result_format": "SUMMARY"}))
    try:
        result = checkpoint.run(run_id=gx.RunIdentifier(run_name=f"{definition.name}:{run_id}"))
    finally:
        # a long-lived worker must not keep the pooled connections of every gate it ran
        source.get_execution_engine().engine.dispose()
    # this gate's pages (its validations and suites) and the index; the pages of earlier gates stay
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    built = [*result.run_results, *(ExpectationSuiteIdentifier(name=v.suite.name) for v in validations)]
    _forget_old_validations(context, settings.data_docs_keep)
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=built)

    outcomes = []
    for validation in result.run_results.values():
        for item in validation.results:
            config = item.expectation_config
            name = (config.meta or {}).get("check") or config.type
            asset = name.split(": ", 1)[0]
            error = _error(item.exception_info)
            if error:
                observed: Any = {"error": error}
            else:
                observed = _observed(item.result or {})
            details = {k: _jsonable(v) for k, v in config.kwargs.items()
                       if k not in ("value_set", "batch_id") and v is not None}
            if config.meta:
                details["meta"] = {k: _jsonable(v) for k, v in config.meta.items() if k != "check"}
            outcomes.append(ExpectationOutcome(name, asset, config.type, bool(item.success), observed, details))
    index = settings.data_docs_dir / "index.html"
    return outcomes, index


def _error(info: Any) -> str | None:
    """GX's exception message for an expectation that could not be evaluated (its info is either flat or
    keyed by metric), first line only: the rest is SQL and a traceback."""
    if not isinstance(info, dict):
        return None
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in infos:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "error").splitlines()[0][:300]
    return None


def _observed(result: dict[str, Any]) -> Any:
    if "observed_value" in result:
        return _jsonable(result["observed_value"])
    observed: dict[str, Any] = {}
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in result:
            observed[key] = result[key]
    if result.get("partial_unexpected_list"):
        observed["examples"] = [_jsonable(v) for v in result["partial_unexpected_list"][:5]]
    return observed


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        parts = []
        if "unexpected_count" in value:
            of = f" of {value['element_count']}" if "element_count" in value else ""
            parts.append(f"{value['unexpected_count']} unexpected{of}")
        if value.get("examples"):
            parts.append(f"e.g. {value['examples']}")
        if "error" in value:
            parts.append(f"error: {value['error']}")
        return ", ".join(parts) or str(value)
    return repr(value)
