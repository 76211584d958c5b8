"""The two suites as code: what each checks, over which query, with which Great Expectations expectation.

A suite is a list of :class:`Check` (a stable name, the asset it reads, one GX expectation) over a set of
:class:`Asset` (a SQL query the gate registers as a GX query asset). Both are built per run, because the
bounds depend on the run: its as-of, the clock skew, the ingest runs being judged, the mismatch history.

**raw** (after ingest, before dbt) judges the raw versions first extracted by the *ingest runs being
reconciled*: the runs whose window ends at or before as-of and after the as-of of the last raw gate that
passed (every run, the first time). For each raw table: the record's key in the payload is not null,
(source_id, payload_hash) is unique, amounts are not negative, currencies are ISO 4217, timestamps are
parseable and between the floor and as-of plus the skew. Across tables: every stream has been loaded, the
windows loaded cover the whole span since the last gated as-of (no hole: a gap that no run closed), no
record was quarantined by those runs (a quarantined ShipHero order would look missing in the 3PL and the
push would create it again) unless a person acknowledged it in the console, and where an API reports a count for a run, the distinct records the run
received equal it.

**marts** (after dbt, before the push): one reconciled row per Shopify order (key not null, unique, and
as many rows as staging has orders), every mart built at this as-of, keys of the other marts not null and
unique, amounts not negative, currencies ISO, timestamps in range, and the share of orders with a
mismatch not above factor × the median of recent runs (once there is enough history).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import great_expectations.expectations as gxe

from shipshape.ingest.catalog import all_streams
from shipshape.ingest.records import ISO_CURRENCIES
from shipshape.quality.settings import GateSettings

CURRENCIES = sorted(ISO_CURRENCIES)


@dataclass(frozen=True)
class Asset:
    name: str
    query: str


@dataclass(frozen=True)
class Check:
    name: str  # stable and readable: "<asset>: <what>"
    asset: str
    expectation: gxe.Expectation


@dataclass
class Suite:
    name: str
    assets: dict[str, Asset] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def add_asset(self, name: str, query: str) -> str:
        self.assets[name] = Asset(name, query)
        return name

    def add(self, asset: str, what: str, expectation: gxe.Expectation) -> None:
        name = f"{asset}: {what}"
        expectation.meta = {**(expectation.meta or {}), "check": name}
        expectation.description = name
        self.checks.append(Check(name, asset, expectation))


def ts(moment: datetime) -> str:
    """A SQL timestamptz literal (only ever from a datetime, never from user text)."""
    return f"'{moment.isoformat()}'::timestamptz"


# --------------------------------------------------------------------------- raw


@dataclass(frozen=True)
class RawSpec:
    """How to read one raw table's payload: SQL expressions over `r.payload` (text)."""

    key: str
    amounts: dict[str, str] = field(default_factory=dict)  # checked >= 0
    currencies: dict[str, str] = field(default_factory=dict)
    timestamps: dict[str, str] = field(default_factory=dict)  # ISO text; required (not null, parseable)
    epochs: dict[str, str] = field(default_factory=dict)  # epoch seconds text; required


def _shop_money(set_name: str) -> str:
    return f"r.payload -> '{set_name}' -> 'shopMoney' ->> 'amount'"


def _stripe(**extra: str) -> RawSpec:
    return RawSpec(key="r.payload ->> 'id'", amounts={"amount": "r.payload ->> 'amount'", **extra},
                   currencies={"currency": "upper(r.payload ->> 'currency')"},
                   epochs={"created": "r.payload ->> 'created'"})


# PayPal amounts carry a sign by event code (refunds and fees are negative), so only their currency is
# checked here; the loader checks the sign against the event code.
RAW_SPECS: dict[str, RawSpec] = {
    "paypal__transactions": RawSpec(
        key="r.payload -> 'transaction_info' ->> 'transaction_id'",
        currencies={"currency": "upper(r.payload -> 'transaction_info' -> 'transaction_amount' ->> 'currency_code')"},
        timestamps={"initiated_at": "r.payload -> 'transaction_info' ->> 'transaction_initiation_date'"},
    ),
    "paypal__trackers": RawSpec(key="(r.payload ->> 'transaction_id') || '-' || (r.payload ->> 'tracking_number')"),
    "shiphero__orders": RawSpec(
        key="r.payload ->> 'id'",
        amounts={"total_price": "r.payload ->> 'total_price'", "subtotal": "r.payload ->> 'subtotal'",
                 "shipping_price": "r.payload -> 'shipping_lines' ->> 'price'"},
        currencies={"currency": "upper(r.payload ->> 'currency')"},
    ),
    "shiphero__shipments": RawSpec(key="r.payload ->> 'id'", timestamps={"created_date": "r.payload ->> 'created_date'"}),
    # Stock counts may legitimately go negative in a WMS (oversold); prices may not.
    "shiphero__inventory": RawSpec(key="r.payload ->> 'id'", amounts={"price": "r.payload ->> 'price'",
                                                                         "value": "r.payload ->> 'value'"}),
    "shopify__orders": RawSpec(
        key="r.payload ->> 'id'",
        amounts={"total_price": _shop_money("totalPriceSet"), "current_total_price": _shop_money("currentTotalPriceSet"),
                 "total_received": _shop_money("totalReceivedSet"), "total_refunded": _shop_money("totalRefundedSet")},
        currencies={"currency": "upper(r.payload ->> 'currencyCode')"},
        timestamps={"created_at": "r.payload ->> 'createdAt'"},
    ),
    "shopify__inventory_items": RawSpec(key="r.payload ->> 'id'"),
    "stripe__payment_intents": _stripe(amount_received="r.payload ->> 'amount_received'"),
    "stripe__charges": _stripe(amount_captured="r.payload ->> 'amount_captured'",
                               amount_refunded="r.payload ->> 'amount_refunded'"),
    "stripe__refunds": _stripe(),
    "stripe__disputes": _stripe(),
    "tracking__trackers": RawSpec(key="r.payload ->> 'id'", timestamps={"created_at": "r.payload ->> 'created_at'"}),
}


def reconciled_runs_sql(as_of: datetime, since: datetime | None) -> str:
    """The ingest runs a raw gate judges: window end in (since, as_of]."""
    lower = f" and e.window_end > {ts(since)}" if since is not None else ""
    return f"select e.* from ops.extraction_runs as e where e.window_end <= {ts(as_of)}{lower}"


def judged_runs_sql(as_of: datetime, since: datetime | None) -> str:
    """(source, stream, run id) of each ingest run a raw gate judges (:func:`reconciled_runs_sql`)."""
    return f"select e.source, e.stream, e.run_id from ({reconciled_runs_sql(as_of, since)}) as e order by 1, 2, 3"


def judged_runs_by_table(rows: Iterable[tuple[str, str, str]]) -> dict[str, list[str]]:
    """The rows of :func:`judged_runs_sql` as raw table -> run ids, the table named by the stream's catalog
    entry (:attr:`shipshape.ingest.stream.Stream.table`)."""
    tables = {(s.source, s.name): s.table for s in all_streams().values()}
    judged: dict[str, list[str]] = {}
    for source, stream, run_id in rows:
        if (source, stream) in tables:  # a stream no longer in the catalog has no raw checks to pick rows for
            judged.setdefault(tables[source, stream], []).append(run_id)
    return judged


def coverage_sql(as_of: datetime, since: datetime | None) -> str:
    """One row per stream, `missing` naming each span of [since, as_of) that no loaded window covers
    (null when there is none). A window counts from where its run started reading, lookback included:
    that part was read. With no earlier passing gate the span starts at the beginning, which a first
    load (no window start) covers."""
    lower = ts(since) if since is not None else "'-infinity'::timestamptz"
    streams = ", ".join(f"('{key}', '{s.source}', '{s.name}')" for key, s in all_streams().items())

    def moment(expr: str, open_end: str) -> str:
        return f"case when isfinite({expr}) then {_iso_text(expr)} else '{open_end}' end"

    return (
        "select s.stream, h.missing from (values " + streams + ") as s (stream, source, name)"
        " left join lateral (select s.stream || ': nothing loaded in [' || "
        + moment("lower(hole)", "the beginning") + " || ', ' || " + moment("upper(hole)", "the end") + " || ')'"
        " as missing from unnest(tstzmultirange(tstzrange(least(" + lower + ", " + ts(as_of) + "), " + ts(as_of) + "))"
        " - coalesce((select range_agg(tstzrange(coalesce(e.window_start, '-infinity'::timestamptz), e.window_end))"
        " from ops.extraction_runs as e where e.source = s.source and e.stream = s.name),"
        " '{}'::tstzmultirange)) as hole) as h on true")


def raw_suite(*, as_of: datetime, since: datetime | None, tables: set[str], judged_runs: Mapping[str, Sequence[str]],
              settings: GateSettings) -> Suite:
    """The raw suite for a gate at ``as_of`` judging ingest runs after ``since``; ``tables`` are the raw
    tables that exist (a stream never loaded gets a failing "loaded" check instead of a query error);
    ``judged_runs`` maps a raw table to the run ids of those runs that loaded it (:func:`judged_runs_sql`).

    A raw table's rows are picked by those run ids as literals, not through a join to the run log: with a
    join the planner cannot tell an hour's run from the first load, and Great Expectations' ``limit 20``
    queries of unexpected values then scanned the whole table (0.4 s each, 17 s of an hourly gate at
    100 000 orders); with the ids it reads the run's rows through the ``run_id`` index."""
    suite = Suite("raw")
    runs = reconciled_runs_sql(as_of, since)
    low, high = settings.timestamp_floor, as_of + settings.clock_skew
    streams = all_streams()

    loaded = suite.add_asset("raw.streams", " union all ".join(
        f"select '{key}' as stream, exists (select 1 from ops.extraction_runs as e where e.source = '{s.source}'"
        f" and e.stream = '{s.name}' and e.window_end <= {ts(as_of)}) and '{s.table}' = any(array[{_array(tables)}])"
        " as loaded"
        for key, s in streams.items()))
    suite.add(loaded, "every stream has been loaded at or before as-of",
              gxe.ExpectColumnValuesToBeInSet(column="loaded", value_set=[True]))

    coverage = suite.add_asset("ops.extraction_coverage", coverage_sql(as_of, since))
    suite.add(coverage, "the windows loaded cover every moment since the last gated as-of",
              gxe.ExpectColumnValuesToBeNull(column="missing"))

    # A record a person acknowledged (ops.quarantine_acknowledgements, from the console) no longer fails
    # the gate; any other record quarantined by these runs, new ones included, still does.
    quarantine = suite.add_asset("raw._quarantine", (
        "select q.source || '.' || q.stream as stream, q.record_id, q.field, q.reason"
        f" from raw._quarantine as q join ({runs}) as e"
        " on e.run_id = q.run_id and e.source = q.source and e.stream = q.stream"
        " where not exists (select from ops.quarantine_acknowledgements as a where a.quarantine_id = q.id)"))
    suite.add(quarantine, "no record quarantined by the ingest runs being reconciled",
              gxe.ExpectTableRowCountToEqual(value=0))

    counts = suite.add_asset("ops.extraction_runs", (
        "select e.source || '.' || e.stream as stream, e.run_id, e.api_reported_count,"
        " e.records_received from (" + runs + ") as e where e.api_reported_count is not null"
        # runs logged before the loader counted distinct records have nothing to compare
        " and e.records_received is not null"))
    suite.add(counts, "records received equal the count the API reported",
              gxe.ExpectColumnPairValuesToBeEqual(column_A="api_reported_count", column_B="records_received"))

    for table, spec in RAW_SPECS.items():
        if table not in tables:
            continue
        columns = [f"{spec.key} as record_key", "r.source_id", "r.payload_hash", "r.source_updated_at"]
        columns += [f"ops.try_numeric({expr}) as {name}" for name, expr in spec.amounts.items()]
        columns += [f"{expr} as {name}" for name, expr in spec.currencies.items()]
        for name, expr in spec.timestamps.items():
            columns += [f"ops.try_timestamptz({expr}) as {name}"]
        for name, expr in spec.epochs.items():
            columns += [f"to_timestamp(ops.try_numeric({expr})) as {name}"]
        asset = suite.add_asset(f"raw.{table}", (
            f"select {', '.join(columns)} from raw.{table} as r"
            f" where r.run_id = any(array[{_array(set(judged_runs.get(table, ())))}]::text[])"))
        suite.add(asset, "record key not null", gxe.ExpectColumnValuesToNotBeNull(column="record_key"))
        suite.add(asset, "(source_id, payload_hash) unique",
                  gxe.ExpectCompoundColumnsToBeUnique(column_list=["source_id", "payload_hash"]))
        for name in spec.amounts:
            suite.add(asset, f"{name} not negative", gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0))
        for name in spec.currencies:
            suite.add(asset, f"{name} is an ISO 4217 code",
                      gxe.ExpectColumnValuesToBeInSet(column=name, value_set=CURRENCIES))
        suite.add(asset, "source_updated_at in range",
                  gxe.ExpectColumnValuesToBeBetween(column="source_updated_at", min_value=low, max_value=high))
        for name in (*spec.timestamps, *spec.epochs):
            suite.add(asset, f"{name} parseable", gxe.ExpectColumnValuesToNotBeNull(column=name))
            suite.add(asset, f"{name} in range",
                      gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high))
    return suite


def _iso_text(column: str) -> str:
    return f"to_char({column} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _array(values: set[str]) -> str:
    """Text literals for ``array[...]`` (quotes doubled: run ids come from the run log, not from people)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) or "null"


# --------------------------------------------------------------------------- marts


def marts_suite(*, as_of: datetime, settings: GateSettings, history: list[float]) -> Suite:
    """The marts suite at ``as_of``; ``history`` is the mismatch rate of recent runs, newest first."""
    suite = Suite("marts")
    low, high = settings.timestamp_floor, as_of + settings.clock_skew

    orders = suite.add_asset("marts.fct_order_reconciliation", "select * from marts.fct_order_reconciliation")
    suite.add(orders, "shopify_order_id not null", gxe.ExpectColumnValuesToNotBeNull(column="shopify_order_id"))
    suite.add(orders, "shopify_order_id unique", gxe.ExpectColumnValuesToBeUnique(column="shopify_order_id"))
    suite.add(orders, "currency is an ISO 4217 code", gxe.ExpectColumnValuesToBeInSet(column="currency",
                                                                                      value_set=CURRENCIES))
    for column in ("order_total_amount", "current_total_amount", "shopify_received_amount",
                   "shopify_refunded_amount", "gateway_captured_amount", "gateway_refunded_amount"):
        suite.add(orders, f"{column} not negative", gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add(orders, "placed_at in range",
              gxe.ExpectColumnValuesToBeBetween(column="placed_at", min_value=low, max_value=high))

    one_row = suite.add_asset("marts.order_counts", (
        "select (select count(*) from marts.fct_order_reconciliation) as reconciled_rows,"
        " (select count(distinct shopify_order_id) from staging.stg_shopify__orders) as shopify_orders"))
    suite.add(one_row, "one reconciled row per Shopify order in staging",
              gxe.ExpectColumnPairValuesToBeEqual(column_A="reconciled_rows", column_B="shopify_orders"))

    payments = suite.add_asset("marts.fct_payment_reconciliation", "select * from marts.fct_payment_reconciliation")
    suite.add(payments, "payment_id not null", gxe.ExpectColumnValuesToNotBeNull(column="payment_id"))
    suite.add(payments, "(gateway, payment_id) unique",
              gxe.ExpectCompoundColumnsToBeUnique(column_list=["gateway", "payment_id"]))
    suite.add(payments, "currency is an ISO 4217 code", gxe.ExpectColumnValuesToBeInSet(column="currency",
                                                                                        value_set=CURRENCIES))
    for column in ("captured_amount", "refunded_amount", "authorized_amount"):
        suite.add(payments, f"{column} not negative", gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add(payments, "created_at in range",
              gxe.ExpectColumnValuesToBeBetween(column="created_at", min_value=low, max_value=high))

    inventory = suite.add_asset("marts.fct_inventory_reconciliation",
                                "select * from marts.fct_inventory_reconciliation")
    suite.add(inventory, "sku not null", gxe.ExpectColumnValuesToNotBeNull(column="sku"))
    suite.add(inventory, "sku unique", gxe.ExpectColumnValuesToBeUnique(column="sku"))

    plan = suite.add_asset("marts.correction_plan", "select * from marts.correction_plan")
    suite.add(plan, "idempotency_key not null", gxe.ExpectColumnValuesToNotBeNull(column="idempotency_key"))
    suite.add(plan, "idempotency_key unique", gxe.ExpectColumnValuesToBeUnique(column="idempotency_key"))
    suite.add(plan, "currency is an ISO 4217 code", gxe.ExpectColumnValuesToBeInSet(column="currency",
                                                                                    value_set=CURRENCIES))
    suite.add(plan, "amount_at_risk not negative", gxe.ExpectColumnValuesToBeBetween(column="amount_at_risk",
                                                                                    min_value=0))

    built = suite.add_asset("marts.as_of", " union all ".join(
        f"select '{mart}' as mart, {_iso_text('as_of')} as as_of from marts.{mart}"
        for mart in ("fct_order_reconciliation", "fct_payment_reconciliation", "fct_inventory_reconciliation",
                     "correction_plan")))
    # compared as text: GX sends a datetime value set to Postgres as varchar
    suite.add(built, "every mart built at this as-of", gxe.ExpectColumnValuesToBeInSet(
        column="as_of", value_set=[as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]))

    if len(history) >= settings.mismatch_min_history:
        median = _median(history)
        limit = settings.mismatch_factor * max(median, settings.mismatch_floor)
        rate = suite.add_asset("marts.mismatch_rate", (
            "select count(*) filter (where cardinality(mismatch_codes) > 0)::float8"
            " / nullif(count(*), 0) as mismatch_rate from marts.fct_order_reconciliation"))
        suite.add(rate, "mismatch rate not many times its recent median",
                  gxe.ExpectColumnMaxToBeBetween(column="mismatch_rate", max_value=limit,
                                                 meta={"recent_median": median, "history_runs": len(history),
                                                       "factor": settings.mismatch_factor, "limit": limit}))
    return suite


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
