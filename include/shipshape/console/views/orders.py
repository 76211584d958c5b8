"""Orders: the orders with an open mismatch, filtered by code, severity, age, system, currency and money
at risk; and one order side by side as each system holds it, with its codes' history and the corrections
sent for it. ``?order=#1001`` opens an order directly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from shipshape.console import queries, ui


def side(facts: dict) -> None:
    """What one system holds, as a two-column table (lists and SKU maps written out)."""
    def text(value) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{sku} x {qty}" for sku, qty in sorted(value.items())) or "–"
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            return ", ".join(map(str, list(value))) or "–"
        return "–" if value is None else str(value)

    st.dataframe(pd.DataFrame({"field": list(facts), "value": [text(v) for v in facts.values()]}),
                 hide_index=True)


ui.header("Orders", "Orders whose systems disagree; pick one to see every system's side.")

options = ui.q("filter_options")
codes = list(options.iloc[0]["codes"]) if options is not None and not options.empty else []
currencies = list(options.iloc[0]["currencies"]) if options is not None and not options.empty else []

with st.container(border=True):
    row1 = st.columns(3)
    chosen_codes = row1[0].multiselect("Code", codes, key="f_codes")
    chosen_severities = row1[1].multiselect("Highest severity", list(queries.SEVERITIES), key="f_severities")
    chosen_systems = row1[2].multiselect("System", list(queries.SYSTEMS), key="f_systems",
                                         help="orders with a code that concerns this system")
    row2 = st.columns(3)
    chosen_currencies = row2[0].multiselect("Currency", currencies, key="f_currencies")
    min_age = row2[1].number_input("Open at least (hours)", min_value=0.0, value=0.0, step=1.0, key="f_age")
    min_amount = row2[2].number_input("Money at risk at least", min_value=0.0, value=0.0, step=10.0, key="f_amount")

flt = queries.OrderFilter(codes=tuple(chosen_codes), severities=tuple(chosen_severities),
                          systems=tuple(chosen_systems), currencies=tuple(chosen_currencies),
                          min_age_hours=float(min_age), min_amount=float(min_amount))
table = ui.q("orders", flt)
matching = 0 if table is None or table.empty else int(table.iloc[0]["matching"])
st.metric("Orders matching", matching)
if not ui.missing(table, "Orders with an open mismatch"):
    if matching > len(table):
        st.caption(f"showing the {len(table)} with the most money at risk")
    ui.table(table.drop(columns=["matching"]), "orders_table", hide_index=True,
                 column_config={"amount_at_risk": st.column_config.NumberColumn(format="%.2f")})

st.divider()
st.subheader("One order")
default = st.query_params.get("order", "")
names = [] if table is None else list(table["order_name"])
picked = st.selectbox("Pick one from the table", [""] + names, key="pick_order")
typed = st.text_input("or type an order name or id", value=default, key="order_ref")
ref = typed.strip() or picked
if ref:
    found = ui.q("find_order", ref)
    if found is None or found.empty:
        st.error(f"No order {ref!r} in marts.fct_order_reconciliation (by name like #1001, or Shopify id).")
    else:
        o = found.iloc[0]
        oid = int(o["shopify_order_id"])
        st.markdown(f"### {o['order_name']} · Shopify id {oid}")
        st.markdown(f"**Codes:** {', '.join(o['mismatch_codes']) or 'none'} · highest severity "
                    f"**{o['max_severity']}** · money at risk **{o['amount_at_risk']:.2f} {o['currency']}**")
        shopify, shiphero, payments, carrier = st.columns(4)
        with shopify:
            st.markdown("**Shopify**")
            side({"order status": o["order_status"], "placed": ui.when(o["placed_at"]),
                      "cancelled": ui.when(o["cancelled_at"]), "currency": o["currency"],
                      "total": f"{o['order_total_amount']:.2f}", "current total": f"{o['current_total_amount']:.2f}",
                      "received": f"{o['shopify_received_amount']:.2f}",
                      "refunded": f"{o['shopify_refunded_amount']:.2f}", "items": o["shopify_items"],
                      "shipping method (mapped)": o["expected_shipping_method"],
                      "tracking it lacks": list(o["tracking_numbers_missing_in_shopify"])})
        with shiphero:
            st.markdown("**ShipHero**")
            side({"fulfillment status": o["fulfillment_status"], "order": o["shiphero_order_id"],
                      "sent to 3PL": ui.when(o["sent_to_3pl_at"]), "shipped": ui.when(o["shipped_at"]),
                      "items": o["shiphero_items"], "shipping method": o["shiphero_shipping_method"],
                      "tracking numbers": list(o["tracking_numbers"])})
        with payments:
            st.markdown("**Stripe / PayPal**")
            side({"payment status": o["payment_status"], "paid": ui.when(o["paid_at"]),
                      "captured": f"{o['gateway_captured_amount']:.2f}",
                      "refunded": f"{o['gateway_refunded_amount']:.2f}",
                      "Stripe PaymentIntents": list(o["stripe_payment_intent_ids"]),
                      "PayPal captures": list(o["paypal_capture_ids"]),
                      "tracking PayPal lacks": list(o["tracking_numbers_missing_in_paypal"]),
                      "tracking Stripe lacks": list(o["tracking_numbers_missing_in_stripe"])})
        with carrier:
            st.markdown("**Carrier**")
            side({"shipping status": o["shipping_status"], "delivered": ui.when(o["delivered_at"]),
                      "tracking numbers": list(o["tracking_numbers"])})
        st.markdown("**Stage timestamps**")
        ui.table([{stage: ui.when(o[column]) for stage, column in (
            ("placed", "placed_at"), ("paid", "paid_at"), ("sent to 3PL", "sent_to_3pl_at"),
            ("shipped", "shipped_at"), ("delivered", "delivered_at"), ("cancelled", "cancelled_at"))}], "order_stages",
            hide_index=True)
        pays = ui.q("order_payments", oid)
        st.markdown("**Payments linked to it**")
        if not ui.missing(pays, "Linked payments"):
            ui.table(pays, "order_payments", hide_index=True)
        st.markdown("**Its codes, first seen and resolved** (mismatch_history)")
        history = ui.q("order_history", oid)
        if not ui.missing(history, "Code history"):
            ui.table(history, "order_history", hide_index=True)
        st.markdown("**Corrections sent for it** (ops.correction_log: before → after)")
        sent = ui.q("order_corrections", oid)
        if not ui.missing(sent, "Corrections"):
            ui.table(sent, "order_corrections", hide_index=True)

ui.end()
