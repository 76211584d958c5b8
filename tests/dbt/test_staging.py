"""dbt staging over a real sandbox world: build passes, every record is staged once, values agree with the
world, reruns are identical, and `as_of` decides which raw version counts.

A small world is dumped into a fresh database through the real extraction code
(`shipshape_sandbox.dump.dump_raw`), then `dbt build --select staging` (with the seeds) runs through
`shipshape.dbt` with as_of = the world clock.

Counts are compared with the world itself, except PayPal Transaction Search: it publishes a transaction
three hours after it happens and leaves out denied payments (`balance_affecting_records_only=Y`), so its
staged rows are compared with the transactions PayPal would list at the world clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import lint_macros
import psycopg
import pytest

from shipshape import dbt, warehouse
from shipshape_sandbox.apis.paypal import PUBLISH_LAG
from shipshape_sandbox.dump import dump_raw
from shipshape_sandbox.generate import build_world
from shipshape_sandbox.truth import norm_order_ref, norm_payment_ref, norm_tracking

ORDERS = 150
SEED = 11

STAGING_MODELS = [
    "stg_shopify__orders", "stg_shopify__order_lines", "stg_shopify__transactions", "stg_shopify__fulfillments",
    "stg_shopify__fulfillment_trackings", "stg_shopify__fulfillment_line_items", "stg_shopify__inventory_items",
    "stg_shopify__inventory_levels", "stg_stripe__payment_intents", "stg_stripe__charges",
    "stg_stripe__charge_tracking_numbers", "stg_stripe__refunds", "stg_stripe__disputes",
    "stg_paypal__transactions", "stg_paypal__trackers", "stg_shiphero__orders", "stg_shiphero__order_lines",
    "stg_shiphero__shipments", "stg_shiphero__shipping_labels", "stg_shiphero__shipment_line_items",
    "stg_shiphero__inventory", "stg_tracking__trackers",
]


# The columns the intermediate and mart models code against (the staging interface): never rename these.
INTERFACE = {
    "stg_shopify__orders": "shopify_order_id order_gid order_name order_ref_id order_ref_name created_at updated_at "
    "processed_at cancelled_at currency display_financial_status display_fulfillment_status total_amount "
    "current_total_amount received_amount refunded_amount shipping_code ship_name ship_address1 ship_address2 "
    "ship_city ship_province_code ship_zip ship_country_code email",
    "stg_shopify__order_lines": "line_item_id shopify_order_id sku quantity current_quantity requires_shipping",
    "stg_shopify__transactions": "transaction_id shopify_order_id kind status gateway amount currency "
    "gateway_reference gateway_reference_norm created_at",
    "stg_shopify__fulfillments": "fulfillment_id shopify_order_id status created_at",
    "stg_shopify__fulfillment_trackings": "fulfillment_id shopify_order_id fulfillment_status tracking_number "
    "tracking_company",
    "stg_shopify__inventory_levels": "inventory_item_id sku location_id location_name fulfillment_service_handle "
    "available on_hand",
    "stg_stripe__payment_intents": "payment_intent_id payment_intent_id_norm created_at amount currency status "
    "capture_method amount_capturable amount_received metadata_shopify_order_id metadata_order_ref "
    "latest_charge_id last_payment_error_code canceled_at",
    "stg_stripe__charges": "charge_id payment_intent_id created_at status captured paid amount amount_captured "
    "amount_refunded currency shipping_carrier shipping_tracking_number disputed",
    "stg_stripe__refunds": "refund_id charge_id payment_intent_id amount currency status created_at",
    "stg_stripe__disputes": "dispute_id charge_id payment_intent_id amount currency status reason created_at",
    "stg_paypal__transactions": "transaction_id transaction_id_norm event_code transaction_status amount currency "
    "invoice_id invoice_order_ref custom_field paypal_reference_id initiated_at updated_at is_capture is_refund",
    "stg_paypal__trackers": "tracker_id transaction_id tracking_number carrier status updated_at",
    "stg_shiphero__orders": "shiphero_order_id legacy_id order_number partner_order_id partner_order_ref "
    "order_number_ref fulfillment_status order_date updated_at ship_name ship_address1 ship_address2 ship_city "
    "ship_province_code ship_zip ship_country_code shipping_carrier shipping_method payment_hold total_price",
    "stg_shiphero__order_lines": "shiphero_line_item_id shiphero_order_id sku quantity quantity_shipped "
    "partner_line_item_id",
    "stg_shiphero__shipments": "shipment_id shiphero_order_id created_at",
    "stg_shiphero__shipping_labels": "label_id shipment_id shiphero_order_id tracking_number carrier status created_at",
    "stg_shiphero__inventory": "sku warehouse_id on_hand allocated reserve available_reported available",
    "stg_tracking__trackers": "tracker_id tracking_code carrier status created_at updated_at",
    "shipping_method_map": "shopify_shipping_code shiphero_shipping_method",
    "carrier_map": "shiphero_carrier paypal_carrier stripe_carrier shopify_company easypost_carrier",
}


def second(moment):
    """The APIs render times to the second; the world keeps microseconds."""
    return None if moment is None else moment.replace(microsecond=0)


def count(conn: psycopg.Connection, relation: str) -> int:
    return conn.execute(f"select count(*) from {relation}").fetchone()[0]


def fingerprint(conn: psycopg.Connection) -> dict[str, str]:
    """md5 of every staging relation's rows in a fixed order: equal fingerprints, equal contents."""
    out = {}
    for model in STAGING_MODELS:
        out[model] = conn.execute(
            f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from staging.{model} as t"
        ).fetchone()[0]
    return out


def build(url: str, tmp_path, name: str, *args: str, as_of=None):
    # cautious: leave out the intermediate models' tests that merely point at staging (relationships)
    return dbt.run(["build", "--select", "staging", "resource_type:seed", "--indirect-selection", "cautious",
                    *args], url=url, as_of=as_of,
                   target_path=tmp_path / f"target-{name}", log_path=tmp_path / f"logs-{name}", echo=False)


@pytest.fixture(scope="module")
def world():
    return build_world(ORDERS, seed=SEED)


@pytest.fixture
def staged(world, fresh_database: str, tmp_path):
    """The world dumped into a fresh database and staged at the world clock: (url, DbtResult)."""
    warehouse.bootstrap(fresh_database)
    dump_raw(world, fresh_database)
    result = build(fresh_database, tmp_path, "first", as_of=world.clock)
    return fresh_database, result


def test_staging_builds_counts_values_and_reruns(world, staged, tmp_path):
    url, result = staged
    assert result.success, result.output[-3000:]
    # every model, seed and test ran, and none so much as warned (vendor vocabularies warn, not fail)
    assert result.not_passed() == {}
    kinds = {uid.split(".")[0] for uid in result.statuses()}
    # "operation": the on-run-start hook that creates incremental staging's state table
    assert kinds == {"model", "seed", "test", "unit_test", "operation"}
    assert sum(uid.startswith("model.") for uid in result.statuses()) == len(STAGING_MODELS)

    with psycopg.connect(url) as conn:
        # --- one staged row per record of the world
        orders = list(world.shopify_orders)
        expected = {
            "stg_shopify__orders": len(orders),
            "stg_shopify__order_lines": sum(len(o.line_items) for o in orders),
            "stg_shopify__transactions": sum(len(o.transactions) for o in orders),
            "stg_shopify__fulfillments": sum(len(o.fulfillments) for o in orders),
            "stg_shopify__fulfillment_trackings": sum(len(f.tracking) for o in orders for f in o.fulfillments),
            "stg_shopify__fulfillment_line_items": sum(len(f.line_items) for o in orders for f in o.fulfillments),
            "stg_shopify__inventory_items": len(world.shopify_inventory_items),
            "stg_shopify__inventory_levels": len(world.shopify_inventory_levels),
            "stg_stripe__payment_intents": len(world.stripe_payment_intents),
            "stg_stripe__charges": len(world.stripe_charges),
            "stg_stripe__refunds": len(world.stripe_refunds),
            "stg_stripe__disputes": len(world.stripe_disputes),
            "stg_paypal__trackers": len(world.paypal_trackers),
            "stg_shiphero__orders": len(world.shiphero_orders),
            "stg_shiphero__order_lines": sum(len(sh.line_items) for sh in world.shiphero_orders),
            "stg_shiphero__shipments": len(world.shiphero_shipments),
            "stg_shiphero__shipping_labels": sum(len(sm.labels) for sm in world.shiphero_shipments),
            "stg_shiphero__shipment_line_items": sum(len(sm.line_items) for sm in world.shiphero_shipments),
            "stg_shiphero__inventory": len(world.shiphero_products),
            "stg_tracking__trackers": len(world.trackers),
        }
        published = world.clock - PUBLISH_LAG
        expected["stg_paypal__transactions"] = sum(
            c.create_time <= published and c.status not in ("DECLINED", "FAILED") for c in world.paypal_captures
        ) + sum(r.create_time <= published and r.status in ("COMPLETED", "PENDING") for r in world.paypal_refunds.values())
        actual = {model: count(conn, f"staging.{model}") for model in expected}
        assert actual == expected
        assert all(actual[m] > 0 for m in expected if m != "stg_stripe__disputes"), actual
        assert count(conn, "staging.shipping_method_map") == 5
        assert count(conn, "staging.carrier_map") == 4

        # --- Shopify orders: link keys, money and statuses as the world holds them
        rows = conn.execute(
            "select shopify_order_id, order_name, order_ref_id, order_ref_name, currency, total_amount,"
            " current_total_amount, received_amount, refunded_amount, display_fulfillment_status, cancelled_at,"
            " created_at, shipping_code, ship_name, ship_zip from staging.stg_shopify__orders"
        ).fetchall()
        staged_orders = {r[0]: r[1:] for r in rows}
        for o in orders:
            addr = o.shipping_address
            assert staged_orders[o.id] == (
                o.name, norm_order_ref(str(o.id)), norm_order_ref(o.name), o.currency, Decimal(o.total()) / 100,
                Decimal(o.total(current=True)) / 100, Decimal(o.received()) / 100, Decimal(o.refunded()) / 100,
                o.display_fulfillment_status(), second(o.cancelled_at), second(o.created_at),
                o.shipping_line.code if o.shipping_line else None,
                addr.name if addr else None, addr.zip if addr else None,
            ), o.name
        lines = dict(conn.execute(
            "select line_item_id, (sku, current_quantity, requires_shipping)::text"
            " from staging.stg_shopify__order_lines").fetchall())
        for o in orders:
            for li in o.line_items:
                assert lines[li.id] == f"({li.sku},{li.current_quantity},{'t' if li.requires_shipping else 'f'})"
        refs = {
            (r[0], r[1]) for r in conn.execute(
                "select gateway, gateway_reference_norm from staging.stg_shopify__transactions"
                " where gateway_reference_norm is not null")
        }
        assert refs == {(t.gateway, norm_payment_ref(t.reference)) for o in orders for t in o.transactions
                        if norm_payment_ref(t.reference)}
        shopify_numbers = {r[0] for r in conn.execute(
            "select tracking_number from staging.stg_shopify__fulfillment_trackings")}
        assert shopify_numbers == {norm_tracking(t.number) for o in orders for f in o.fulfillments for t in f.tracking}

        # --- Stripe: minor units to major units, fallback keys normalised
        pis = {r[0]: r[1:] for r in conn.execute(
            "select payment_intent_id, amount, currency, status, amount_capturable, metadata_order_ref,"
            " last_payment_error_code from staging.stg_stripe__payment_intents")}
        for pi in world.stripe_payment_intents:
            assert pis[pi.id] == (
                Decimal(pi.amount) / 100, pi.currency.upper(), pi.status, Decimal(pi.amount_capturable) / 100,
                norm_order_ref(pi.metadata.get("shopify_order_id")), pi.last_payment_error_code,
            )
        charges = {r[0]: r[1:] for r in conn.execute(
            "select charge_id, payment_intent_id, status, captured, amount_captured"
            " from staging.stg_stripe__charges")}
        for ch in world.stripe_charges:
            assert charges[ch.id] == (ch.payment_intent, ch.status, ch.captured, Decimal(ch.amount_captured) / 100)
        stripe_numbers = {(r[0], r[1]) for r in conn.execute(
            "select charge_id, tracking_number from staging.stg_stripe__charge_tracking_numbers")}
        assert stripe_numbers == {
            (ch.id, norm_tracking(n)) for ch in world.stripe_charges if ch.shipping and ch.shipping.tracking_number
            for n in ch.shipping.tracking_number.split(",") if n.strip()
        }
        refunds = {r[0]: r[1:] for r in conn.execute(
            "select refund_id, charge_id, amount, status, created_at from staging.stg_stripe__refunds")}
        for rf in world.stripe_refunds:
            assert refunds[rf.id][:3] == (rf.charge, Decimal(rf.amount) / 100, rf.status)
            assert int(refunds[rf.id][3].timestamp()) == rf.created

        # --- PayPal: captures and refunds, signed amounts, invoice fallback normalised
        txns = {r[0]: r[1:] for r in conn.execute(
            "select transaction_id, is_capture, is_refund, amount, invoice_order_ref, paypal_reference_id"
            " from staging.stg_paypal__transactions")}
        for c in world.paypal_captures:
            if c.id in txns:
                assert txns[c.id] == (True, False, Decimal(c.amount) / 100, norm_order_ref(c.invoice_id), None)
        for r in world.paypal_refunds.values():
            if r.id in txns:
                assert txns[r.id][:4] == (False, True, -Decimal(r.amount) / 100, txns[r.id][3])
                assert txns[r.id][4] == r.capture_id
        trackers = {(r[0], r[1], r[2]) for r in conn.execute(
            "select transaction_id, tracking_number, status from staging.stg_paypal__trackers")}
        assert trackers == {(t.transaction_id, norm_tracking(t.tracking_number), t.status) for t in world.paypal_trackers}

        # --- ShipHero: link keys, SPEC's available, labels
        shs = {r[0]: r[1:] for r in conn.execute(
            "select shiphero_order_id, partner_order_ref, order_number_ref, fulfillment_status, payment_hold,"
            " shipping_method, ship_name, ship_province_code from staging.stg_shiphero__orders")}
        for sh in world.shiphero_orders:
            assert shs[sh.id] == (
                norm_order_ref(sh.partner_order_id), norm_order_ref(sh.order_number), sh.fulfillment_status,
                sh.holds.payment_hold, sh.shipping_method, sh.shipping_address.name, sh.shipping_address.province_code,
            )
        available = dict(conn.execute("select sku, available from staging.stg_shiphero__inventory").fetchall())
        assert available == {p.sku: p.available for p in world.shiphero_products}
        labels = {(r[0], r[1]) for r in conn.execute(
            "select shipment_id, tracking_number from staging.stg_shiphero__shipping_labels")}
        assert labels == {(sm.id, norm_tracking(lb.tracking_number)) for sm in world.shiphero_shipments
                          for lb in sm.labels}
        shopify_available = {(r[0], r[1]): r[2] for r in conn.execute(
            "select sku, location_id, available from staging.stg_shopify__inventory_levels")}
        for (item_id, location_id), level in world.shopify_inventory_levels.items():
            assert shopify_available[(world.shopify_inventory_items.get(item_id).sku, location_id)] == level.available
        handles = {r[0] for r in conn.execute(
            "select distinct location_id from staging.stg_shopify__inventory_levels"
            " where fulfillment_service_handle = 'shiphero'")}
        assert handles == {loc.id for loc in world.shopify_locations if loc.fulfillment_service_handle == "shiphero"}

        # --- carrier trackers
        trk = {r[0]: r[1:] for r in conn.execute(
            "select tracker_id, tracking_code, status from staging.stg_tracking__trackers")}
        assert trk == {t.id: (norm_tracking(t.tracking_code), t.status) for t in world.trackers}

        # --- the interface columns exist, and every column of every model is documented (analysts read
        # dbt docs), no more and no fewer than the view has
        manifest = json.loads((result.target_path / "manifest.json").read_text())
        nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}
        for name in [*STAGING_MODELS, "shipping_method_map", "carrier_map", "mismatch_codes"]:
            columns = [r[0] for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'staging'"
                " and table_name = %s", [name])]
            assert set(INTERFACE.get(name, "").split()) <= set(columns), name
            assert set(nodes[name]["columns"]) == set(columns), name
            assert nodes[name]["description"] and all(c["description"] for c in nodes[name]["columns"].values())

        before = fingerprint(conn)

    # --- a rerun at the same as-of gives the same answer
    again = build(url, tmp_path, "again", as_of=world.clock)
    assert again.success and again.not_passed() == {}, again.output[-3000:]
    with psycopg.connect(url) as conn:
        assert fingerprint(conn) == before


def test_as_of_picks_the_version(world, staged, tmp_path):
    """A newer raw version of a record counts only from its source_updated_at on; records first seen after
    as-of are not staged at all; a rerun at the old as-of restores the old answer."""
    url, result = staged
    assert result.success, result.output[-3000:]
    order = world.shopify_orders.sorted_by("created_at")[0]
    later = world.clock + timedelta(hours=2)
    with psycopg.connect(url) as conn:
        payload = conn.execute("select payload from raw.shopify__orders where source_id = %s",
                               [f"gid://shopify/Order/{order.id}"]).fetchone()[0]
        payload["cancelledAt"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload["shippingAddress"]["zip"] = "00000"
        text = json.dumps(payload)
        conn.execute(
            "insert into raw.shopify__orders (source_id, source_updated_at, payload, payload_hash, extracted_at,"
            " run_id) values (%s, %s, %s::jsonb, md5(%s::jsonb::text), %s, 'test-later-version')",
            [f"gid://shopify/Order/{order.id}", later, text, text, later],
        )
        newest = conn.execute("select max(created_at) from staging.stg_shopify__orders").fetchone()[0]

    def staged_order():
        with psycopg.connect(url) as conn:
            return conn.execute(
                "select cancelled_at, ship_zip, (select count(*) from staging.stg_shopify__orders)"
                " from staging.stg_shopify__orders where shopify_order_id = %s", [order.id]).fetchone()

    run = dbt.run(["run", "--select", "stg_shopify__orders"], url=url, as_of=world.clock,
                  target_path=tmp_path / "t1", log_path=tmp_path / "l1", echo=False)
    assert run.success, run.output[-3000:]
    assert staged_order() == (second(order.cancelled_at), order.shipping_address.zip, len(world.shopify_orders))

    run = dbt.run(["run", "--select", "stg_shopify__orders"], url=url, as_of=later,
                  target_path=tmp_path / "t2", log_path=tmp_path / "l2", echo=False)
    assert run.success, run.output[-3000:]
    assert staged_order() == (later, "00000", len(world.shopify_orders))

    # an as-of before the newest order was last updated leaves that order out entirely
    run = dbt.run(["run", "--select", "stg_shopify__orders"], url=url, as_of=newest - timedelta(seconds=1),
                  target_path=tmp_path / "t3", log_path=tmp_path / "l3", echo=False)
    assert run.success, run.output[-3000:]
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from staging.stg_shopify__orders where created_at >= %s",
                            [newest]).fetchone()[0] == 0


def test_profile_env_from_urls():
    env = dbt.profile_env("postgresql://ship%40user:p%3Ass@db.example.com:6543/wh?sslmode=require")
    assert env == {
        "SHIPSHAPE_DBT_HOST": "db.example.com", "SHIPSHAPE_DBT_PORT": "6543", "SHIPSHAPE_DBT_USER": "ship@user",
        "SHIPSHAPE_DBT_PASSWORD": "p:ss", "SHIPSHAPE_DBT_DBNAME": "wh", "SHIPSHAPE_DBT_SSLMODE": "require",
    }
    socket = warehouse.build_url(host="/tmp/pg sock", port=5433, user="postgres", database="shipshape")
    env = dbt.profile_env(socket)
    assert env["SHIPSHAPE_DBT_HOST"] == "/tmp/pg sock" and env["SHIPSHAPE_DBT_PORT"] == "5433"
    assert env["SHIPSHAPE_DBT_PASSWORD"] == "" and env["SHIPSHAPE_DBT_DBNAME"] == "shipshape"
    with pytest.raises(ValueError):
        dbt.profile_env("mysql://u@h/db")


def test_command_carries_project_and_vars():
    """The command line names the project and the vars; credentials only ever travel in the environment,
    and so does the as-of."""
    cmd = dbt.command(["build"], vars={"amount_tolerance": 0.02})
    assert cmd[-2] == "--vars"
    assert json.loads(cmd[-1]) == {"amount_tolerance": 0.02}
    assert "--project-dir" in cmd and "--profiles-dir" in cmd
    assert dbt.as_of_env("2026-11-01T12:00:00Z") == {dbt.AS_OF_ENV: "2026-11-01T12:00:00Z"}


def test_a_new_as_of_compiles_into_the_sql_without_parsing_the_project_again(warehouse_url, tmp_path):
    """Runs at a new as-of reuse dbt's partial parse (nothing re-parsed), and the SQL they compile judges
    at that as-of: the as-of reaches dbt through the environment, not as a var (a changed var re-parses
    every file)."""
    kwargs = dict(url=warehouse_url, target_path=tmp_path / "target", log_path=tmp_path / "logs", echo=False)

    log = tmp_path / "logs" / "dbt.log"

    def compiled(as_of: str) -> tuple[str, str]:
        log.unlink(missing_ok=True)
        result = dbt.run(["compile", "--select", "stg_shopify__orders", "--indirect-selection", "empty"],
                         as_of=as_of, **kwargs)
        assert result.success, result.output[-3000:]
        [sql] = (tmp_path / "target" / "compiled").rglob("stg_shopify__orders.sql")
        parsing = [line for line in log.read_text().splitlines() if "partial parsing" in line.lower()]
        return sql.read_text(), "\n".join(parsing)

    first_sql, first = compiled("2026-11-01T12:00:00Z")
    assert "Starting full parse" in first, first
    assert "'2026-11-01T12:00:00Z'::timestamptz" in first_sql
    second_sql, second = compiled("2026-11-02T08:30:00+00:00")
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed" in second, second
    assert "full parse" not in second.lower(), second
    assert "'2026-11-02T08:30:00+00:00'::timestamptz" in second_sql
    assert "2026-11-01T12:00:00Z" not in second_sql


def test_models_sql_lints_clean(warehouse_url):
    """sqlfluff (dbt templater, dbt_project/.sqlfluff) finds nothing in any model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(dbt.ENV_PREFIX)}
    env.update(dbt.profile_env(warehouse_url), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    project = dbt.project_dir()
    with tempfile.TemporaryDirectory() as target:
        env.update(DBT_TARGET_PATH=target, DBT_LOG_PATH=target)
        done = subprocess.run([str(Path(sys.executable).with_name("sqlfluff")), "lint", "models",
                               "--format", "json", "--nofail"], cwd=project, env=env, capture_output=True,
                              text=True, timeout=300)
    report = json.loads(done.stdout[done.stdout.index("["):])
    problems = [f"{f['filepath']}:{v['start_line_no']} {v['code']} {v['description']}"
                for f in report for v in f["violations"]]
    assert report and not problems, "\n".join(problems) or done.stderr[-2000:]


def test_macros_sql_lints_clean(tmp_path):
    """sqlfluff finds nothing in any macro's body (tests/dbt/lint_macros.py: sqlfluff alone lints no macro),
    and would find a violation there: a keyword in upper case is reported at its line in the file."""
    assert lint_macros.lint() == []
    macros = (lint_macros.PROJECT / "macros" / "as_of.sql").read_text()
    probe = tmp_path / "probe.sql"
    probe.write_text(macros + "\n{% macro probe() %}\n    SELECT 1 AS one\n{% endmacro %}\n")
    line = len(macros.splitlines()) + 3
    assert lint_macros.lint([probe]) == [f"{probe}:{line}:5 [probe] CP01 Keywords must be lower case.",
                                         f"{probe}:{line}:14 [probe] CP01 Keywords must be lower case."]
