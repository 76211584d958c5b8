"""Processing vs fulfillment: lead times per day for placed -> sent to the 3PL, sent -> shipped and
shipped -> delivered (marts.order_stage_daily), the orders stuck in a stage beyond its allowance, and
order status against shipping status (marts.fct_order_stages)."""

from __future__ import annotations

import streamlit as st

from shipshape.console import ui

STAGES = {"placed": "placed → sent to 3PL", "sent_to_3pl": "sent → shipped", "shipped": "shipped → delivered"}

ui.header("Processing vs fulfillment", "How long each stage takes, and which orders wait too long.")

st.subheader("Lead times per day (hours)")
daily = ui.q("stage_daily")
if not ui.missing(daily, "Lead times (order_stage_daily)"):
    for column, (stage, frame) in zip(st.columns(3), daily.groupby("stage", sort=False), strict=False):
        with column:
            st.markdown(f"**{stage.replace('_', ' ')}**")
            st.line_chart(frame.set_index("day")[["median_hours", "p90_hours"]], height=220)
    ui.table(daily, "stage_daily", hide_index=True)

st.subheader("Stuck beyond the stage's allowance")
stuck = ui.q("stuck_counts")
if not ui.missing(stuck, "Orders in a stage"):
    for column, (_, row) in zip(st.columns(len(stuck)), stuck.iterrows(), strict=True):
        column.metric(f"{STAGES[row['current_stage']]} (> {row['sla_hours']:g} h)", int(row["stuck"]))
    stage = st.selectbox("Show the stuck orders of", list(STAGES), format_func=STAGES.get, key="stuck_stage")
    orders = ui.q("stuck_orders", stage)
    if not ui.missing(orders, "Stuck orders"):
        ui.table(orders, "stuck_orders", hide_index=True)

st.subheader("Order status against shipping status")
cross = ui.q("status_crosstab")
if not ui.missing(cross, "Orders"):
    table = cross.pivot_table(index="order_status", columns="shipping_status", values="orders", fill_value=0,
                              aggfunc="sum")
    ui.table(table, "status_crosstab")

ui.end()
