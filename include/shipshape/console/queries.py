"""Every query the console runs, one function per thing a page shows, each over the marts and ops tables
with its inputs bound as parameters (never formatted into the SQL). Pages call them through
``ui.cached`` so a reload within the TTL reuses the answer. The tests compute each figure again with
their own queries; they never call these.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from shipshape import codes
from shipshape.console.db import read

# The systems each order code concerns (the seed's `systems`: the sides that disagree), for the Orders
# page's system filter. A gateway code concerns Stripe or PayPal as the order's payments say.
SYSTEMS = codes.SYSTEMS
SEVERITIES = codes.SEVERITIES


def code_systems() -> dict[str, tuple[str, ...]]:
    return {code: codes.get(code).systems for code in codes.names("order")}


def codes_for_system(system: str) -> list[str]:
    return [code for code, systems in code_systems().items() if system in systems]


# ------------------------------------------------------------------------------------------ as-of
def marts_as_of(url: str) -> pd.DataFrame | None:
    """The as-of the marts were built at (each mart carries it; they are built together)."""
    return read(url, "select (select as_of from marts.fct_order_reconciliation limit 1) as orders_as_of,"
                     " (select max(as_of) from marts.mismatch_daily) as daily_as_of")


# --------------------------------------------------------------------------------------- overview
def open_by_code(url: str) -> pd.DataFrame | None:
    return read(url, "select code, severity, count(*) as open from marts.mismatch_history where is_open"
                     " group by code, severity"
                     " order by array_position(%(severities)s::text[], severity), count(*) desc, code",
                {"severities": list(SEVERITIES)})


def money_at_risk(url: str) -> pd.DataFrame | None:
    """Per currency, over orders (an order's money counts once, however many codes it has)."""
    return read(url, "select currency, count(*) as orders, sum(amount_at_risk) as amount_at_risk"
                     " from marts.fct_order_reconciliation where amount_at_risk > 0"
                     " group by currency order by sum(amount_at_risk) desc, currency")


def daily_flow(url: str) -> pd.DataFrame | None:
    return read(url, "select day, sum(opened_count)::bigint as opened, sum(resolved_count)::bigint as resolved,"
                     " sum(open_count)::bigint as open from marts.mismatch_daily group by day order by day")


def ingest_runs(url: str) -> pd.DataFrame | None:
    """The latest ingest run of each stream."""
    return read(url, "select distinct on (source, stream) source || '.' || stream as stream, run_id, window_start,"
                     " window_end, fetched, inserted, quarantined, finished_at from ops.extraction_runs"
                     " order by source, stream, finished_at desc")


def gate_verdicts(url: str) -> pd.DataFrame | None:
    """The latest run of each gate (raw, marts)."""
    return read(url, "select distinct on (suite) suite, run_id, as_of, success, evaluated, failed, data_docs,"
                     " finished_at from ops.quality_runs order by suite, finished_at desc")


def last_push(url: str) -> pd.DataFrame | None:
    """What the latest push (the run that last touched the outbox) left, by status."""
    return read(url, "with last as (select run_id from ops.correction_log order by updated_at desc limit 1)"
                     " select log.run_id, log.status, count(*) as actions from ops.correction_log as log"
                     " join last on log.run_id = last.run_id group by log.run_id, log.status order by log.status")


# ----------------------------------------------------------------------------------------- orders
@dataclass(frozen=True)
class OrderFilter:
    codes: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()  # the order's highest severity
    systems: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    min_age_hours: float = 0.0  # open at least this long (its oldest open code)
    min_amount: float = 0.0  # money at risk at least this
    limit: int = 500


def filter_options(url: str) -> pd.DataFrame | None:
    return read(url, "select array(select distinct code from marts.mismatch_history where entity_type = 'order'"
                     " and is_open order by code) as codes, array(select distinct currency from"
                     " marts.fct_order_reconciliation where mismatch_count > 0 order by currency) as currencies")


def orders(url: str, f: OrderFilter) -> pd.DataFrame | None:
    """Orders with at least one open code that pass every filter, most money at risk first, with the
    number that passed (``matching``) on every row. An order passes the system filter when one of its codes
    concerns a chosen system (:func:`code_systems`), and for Stripe or PayPal when it has a payment there."""
    system_codes = {s: (codes_for_system(s) if s in f.systems else []) for s in SYSTEMS}
    return read(url, """
        with open_since as (
            select shopify_order_id, min(first_seen_at) as open_since
            from marts.mismatch_history where entity_type = 'order' and is_open group by shopify_order_id
        )
        select o.order_name, o.shopify_order_id, o.mismatch_codes, o.max_severity, o.currency, o.amount_at_risk,
               o.order_status, o.payment_status, o.fulfillment_status, o.shipping_status, o.placed_at,
               s.open_since, round((extract(epoch from o.as_of - s.open_since) / 3600.0)::numeric, 1) as age_hours,
               count(*) over () as matching
        from marts.fct_order_reconciliation as o
        left join open_since as s on s.shopify_order_id = o.shopify_order_id
        where o.mismatch_count > 0
          and (%(codes)s::text[] is null or o.mismatch_codes && %(codes)s::text[])
          and (%(severities)s::text[] is null or o.max_severity = any(%(severities)s::text[]))
          and (%(currencies)s::text[] is null or o.currency = any(%(currencies)s::text[]))
          and (not %(by_system)s
               or o.mismatch_codes && %(shopify)s::text[]
               or o.mismatch_codes && %(shiphero)s::text[]
               or o.mismatch_codes && %(carrier)s::text[]
               or (o.mismatch_codes && %(stripe)s::text[] and cardinality(o.stripe_payment_intent_ids) > 0)
               or (o.mismatch_codes && %(paypal)s::text[] and cardinality(o.paypal_capture_ids) > 0))
          and coalesce(extract(epoch from o.as_of - s.open_since) / 3600.0, 0) >= %(min_age)s
          and o.amount_at_risk >= %(min_amount)s
        order by o.amount_at_risk desc, o.shopify_order_id
        limit %(limit)s
        """, {"codes": list(f.codes) or None, "severities": list(f.severities) or None,
              "currencies": list(f.currencies) or None, "by_system": bool(f.systems), **system_codes,
              "min_age": f.min_age_hours, "min_amount": f.min_amount, "limit": f.limit})


def find_order(url: str, ref: str) -> pd.DataFrame | None:
    """The order a person typed: its name (`#1001` or `1001`) or its Shopify id."""
    text = ref.strip()
    name = text if text.startswith("#") else f"#{text}"
    return read(url, "select * from marts.fct_order_reconciliation where order_name = %(name)s"
                     " or shopify_order_id::text = %(id)s limit 1", {"name": name, "id": text.lstrip("#")})


def order_payments(url: str, shopify_order_id: int) -> pd.DataFrame | None:
    return read(url, "select gateway, payment_id, link_method, gateway_status, created_at, currency,"
                     " captured_amount, refunded_amount, net_amount, authorized_amount"
                     " from marts.fct_payment_reconciliation where shopify_order_id = %s order by created_at",
                (shopify_order_id,))


def order_history(url: str, shopify_order_id: int) -> pd.DataFrame | None:
    return read(url, "select code, severity, first_seen_at, last_seen_at, resolved_at, is_open"
                     " from marts.mismatch_history where entity_type = 'order' and shopify_order_id = %s"
                     " order by first_seen_at, code", (shopify_order_id,))


def order_corrections(url: str, shopify_order_id: int) -> pd.DataFrame | None:
    """The outbox rows for the order, each with the state the plan saw before (while it is still planned)."""
    return read(url, "select log.target, log.action, log.status, log.attempts, plan.before_state as before,"
                     " log.payload as after, log.detail, log.error, log.next_attempt_at, log.planned_at,"
                     " log.applied_at from ops.correction_log as log"
                     " left join marts.correction_plan as plan on plan.idempotency_key = log.idempotency_key"
                     " where log.shopify_order_id = %s order by log.planned_at, log.action", (shopify_order_id,))


# ------------------------------------------------------------------------------------ corrections
def outbox_counts(url: str) -> pd.DataFrame | None:
    return read(url, "select status, target, action, count(*) as actions from ops.correction_log"
                     " group by status, target, action order by status, target, action")


def failed_actions(url: str) -> pd.DataFrame | None:
    return read(url, "select action_id, order_name, sku, target, action, attempts, last_attempted_at,"
                     " next_attempt_at, error from ops.correction_log where status = 'failed'"
                     " order by next_attempt_at, action_id")


def planned_counts(url: str) -> pd.DataFrame | None:
    """The latest plan's actions recorded in the outbox as planned and not sent (a dry run, or a push that
    has not run since), per target and action."""
    return read(url, "select plan.target_system as target, plan.action, count(*) as actions, max(plan.as_of) as as_of"
                     " from marts.correction_plan as plan join ops.correction_log as log"
                     " on log.idempotency_key = plan.idempotency_key where log.status = 'planned'"
                     " group by plan.target_system, plan.action order by plan.target_system, plan.action")


def planned_actions(url: str, limit: int = 200) -> pd.DataFrame | None:
    """Those actions one by one, before -> after, the most money at risk first (``limit`` of them: a plan of
    thousands is read in the outbox, not in a browser)."""
    return read(url, "select plan.target_system as target, plan.action, plan.order_name, plan.sku,"
                     " plan.mismatch_codes, plan.amount_at_risk, plan.currency, plan.before_state as before,"
                     " plan.payload as after from marts.correction_plan as plan join ops.correction_log as log"
                     " on log.idempotency_key = plan.idempotency_key where log.status = 'planned'"
                     " order by plan.amount_at_risk desc, plan.action_id limit %s", (limit,))


def refused_runs(url: str) -> pd.DataFrame | None:
    return read(url, "select run_id, detail as reason, count(*) as actions, max(updated_at) as refused_at"
                     " from ops.correction_log where status = 'refused' group by run_id, detail"
                     " order by max(updated_at) desc")


# ------------------------------------------------------------------------- processing/fulfillment
def stage_daily(url: str) -> pd.DataFrame | None:
    return read(url, "select day, stage, orders, mean_hours, median_hours, p90_hours, max_hours"
                     " from marts.order_stage_daily order by day, stage")


def stuck_counts(url: str) -> pd.DataFrame | None:
    return read(url, "select current_stage, count(*) filter (where is_stuck) as stuck, count(*) as orders,"
                     " max(stage_sla_hours) as sla_hours from marts.fct_order_stages"
                     " where current_stage in ('placed', 'sent_to_3pl', 'shipped') group by current_stage"
                     " order by array_position(array['placed', 'sent_to_3pl', 'shipped'], current_stage)")


def stuck_orders(url: str, stage: str, limit: int = 500) -> pd.DataFrame | None:
    return read(url, "select order_name, shopify_order_id, current_stage, stage_started_at,"
                     " round(hours_in_stage::numeric, 1) as hours_in_stage, stage_sla_hours, payment_status,"
                     " fulfillment_status, shipping_status from marts.fct_order_stages"
                     " where is_stuck and current_stage = %s order by hours_in_stage desc, shopify_order_id"
                     " limit %s", (stage, limit))


def status_crosstab(url: str) -> pd.DataFrame | None:
    return read(url, "select order_status, shipping_status, count(*) as orders from marts.fct_order_stages"
                     " group by order_status, shipping_status")


# ----------------------------------------------------------------------------------- data quality
def failed_expectations(url: str) -> pd.DataFrame | None:
    """Every failed expectation of each gate's latest run, with what was observed."""
    return read(url, "with latest as (select distinct on (suite) suite, run_id from ops.quality_runs"
                     " order by suite, finished_at desc)"
                     " select r.suite, r.expectation, r.observed_value::text as observed_value, r.as_of"
                     " from ops.quality_results as r join latest on latest.suite = r.suite"
                     " and latest.run_id = r.run_id where not r.success order by r.suite, r.expectation")


def quarantine(url: str, limit: int = 1000) -> pd.DataFrame | None:
    return read(url, "select q.id, q.source, q.stream, q.record_id, q.field, q.reason, q.run_id,"
                     " q.quarantined_at, a.acknowledged_by, a.acknowledged_at, a.note"
                     " from raw._quarantine as q left join ops.quarantine_acknowledgements as a"
                     " on a.quarantine_id = q.id order by q.id desc limit %s", (limit,))


def quarantine_payload(url: str, quarantine_id: int) -> pd.DataFrame | None:
    return read(url, "select payload from raw._quarantine where id = %s", (quarantine_id,))


# ----------------------------------------------------------------------------- inventory/payments
def inventory_out_of_sync(url: str) -> pd.DataFrame | None:
    return read(url, "select sku, shopify_available, shiphero_available, difference"
                     " from marts.fct_inventory_reconciliation where inventory_mismatch"
                     " order by abs(difference) desc, sku")


def orphan_payments(url: str) -> pd.DataFrame | None:
    return read(url, "select gateway, payment_id, gateway_status, created_at, currency, captured_amount,"
                     " refunded_amount, net_amount from marts.fct_payment_reconciliation where orphan_payment"
                     " order by created_at desc, payment_id")
