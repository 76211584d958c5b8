"""Overview: open mismatches by code and severity, money at risk by currency, opened and resolved per day,
and the health of the last runs (ingest per stream, both gates, the last push). Accepts ``?as_of=`` (a
link from a reconcile run) and says plainly when the marts have moved on since."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from shipshape.console import ui

as_of = ui.header("Overview", "Every open mismatch, the money at risk, and how the last runs went.")

linked = st.query_params.get("as_of")
if linked:
    try:
        # a "+00:00" left unencoded in a link arrives as " 00:00"
        parsed = datetime.fromisoformat(linked.strip().replace(" ", "+"))
        moment = pd.Timestamp(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).tz_convert("UTC")
    except ValueError:
        st.error(f"The link's as_of parameter {linked!r} is not an ISO-8601 timestamp "
                 "(e.g. 2026-11-01T12:00:00Z); showing the marts as they are.")
    else:
        if as_of is None or moment != as_of:
            st.warning(f"You followed a link from the run judged at **{ui.when(moment)}**; the marts are now at "
                       f"**{ui.when(as_of)}**. The figures below are the marts' own, as of {ui.when(as_of)}.")
        else:
            st.success(f"The marts are at the as-of of the run you came from ({ui.when(moment)}).")

left, right = st.columns(2)
with left:
    st.subheader("Open mismatches by code and severity")
    open_codes = ui.q("open_by_code")
    if not ui.missing(open_codes, "Open mismatches"):
        st.metric("Open mismatches", int(open_codes["open"].sum()))
        ui.table(open_codes, "open_by_code", hide_index=True)
with right:
    st.subheader("Money at risk by currency")
    money = ui.q("money_at_risk")
    if not ui.missing(money, "Money at risk"):
        ui.table(money, "money_at_risk", hide_index=True,
                     column_config={"amount_at_risk": st.column_config.NumberColumn(format="%.2f")})

st.subheader("Opened and resolved per day")
flow = ui.q("daily_flow")
if not ui.missing(flow, "Daily counts (mismatch_daily)"):
    st.bar_chart(flow.set_index("day")[["opened", "resolved"]], stack=False)
    ui.table(flow, "daily_flow", hide_index=True)

st.subheader("The last runs")
ingest, gates, push = st.columns([2, 2, 1])
with ingest:
    st.markdown("**Ingest, latest run per stream**")
    runs = ui.q("ingest_runs")
    if not ui.missing(runs, "Ingest runs"):
        ui.table(runs[["stream", "window_end", "fetched", "inserted", "quarantined"]], "ingest_runs", hide_index=True)
with gates:
    st.markdown("**Quality gates, latest verdicts**")
    verdicts = ui.q("gate_verdicts")
    if not ui.missing(verdicts, "Gate runs"):
        shown = verdicts.assign(verdict=verdicts["success"].map({True: "passed", False: "FAILED"}))
        ui.table(shown[["suite", "verdict", "as_of", "evaluated", "failed", "run_id"]], "gate_verdicts", hide_index=True)
with push:
    st.markdown("**The last push**")
    last = ui.q("last_push")
    if not ui.missing(last, "Pushes"):
        st.caption(f"run {last.iloc[0]['run_id']}")
        counts = dict(zip(last["status"], last["actions"], strict=True))
        for status in ("applied", "failed", "planned", "refused", "skipped", "superseded"):
            if status in counts or status in ("applied", "failed", "planned", "refused"):
                st.metric(status, int(counts.get(status, 0)))

ui.end()
