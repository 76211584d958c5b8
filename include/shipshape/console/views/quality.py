"""Data quality: each gate's latest verdict, its failed expectations with what was observed, the Data Docs;
the quarantine, and acknowledging a quarantined record (recorded with who and when in
ops.quarantine_acknowledgements), after which the raw gate no longer fails on it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import streamlit as st

from shipshape.console import db, ui
from shipshape.console.settings import database_url

ui.header("Data quality", "The quality gates' verdicts, and the records ingest could not load.")

st.subheader("The gates' latest verdicts")
verdicts = ui.q("gate_verdicts")
if not ui.missing(verdicts, "Gate runs"):
    for column, (_, row) in zip(st.columns(len(verdicts)), verdicts.iterrows(), strict=True):
        with column:
            st.metric(f"{row['suite']} gate", "passed" if row["success"] else "FAILED")
            st.caption(f"{row['failed']} of {row['evaluated']} expectations failed · as of {ui.when(row['as_of'])}, "
                       f"run {row['run_id']}")
            if row["data_docs"]:
                st.markdown(f"[Data Docs]({Path(row['data_docs']).resolve().as_uri()}) · `{row['data_docs']}`")

st.subheader("Failed expectations")
failed = ui.q("failed_expectations")
if not ui.missing(failed, "Failed expectations in the latest gate runs"):
    ui.table(failed, "failed_expectations", hide_index=True)

st.subheader("The quarantine")
quarantined = ui.q("quarantine")
if not ui.missing(quarantined, "Quarantined records"):
    open_ = quarantined[quarantined["acknowledged_by"].isna()]
    st.metric("Not acknowledged", len(open_))
    ui.table(quarantined, "quarantine", hide_index=True)
    with st.expander("A record's payload"):
        shown = st.selectbox("Record", list(quarantined["id"]), key="payload_id")
        payload = ui.q("quarantine_payload", int(shown)) if shown is not None else None
        if payload is not None and not payload.empty:
            st.json(payload.iloc[0]["payload"])

    st.markdown("**Acknowledge a record**: you have looked at it and accept that it is not loaded; the raw gate "
                "stops failing on it (every other quarantined record still fails it).")
    if open_.empty:
        st.caption("Every quarantined record is acknowledged.")
    else:
        with st.form("acknowledge"):
            labels = {int(r["id"]): f"{r['id']}: {r['source']}.{r['stream']} {r['record_id']} · {r['field']} · "
                                    f"{r['reason']}" for _, r in open_.iterrows()}
            record = st.selectbox("Record", list(labels), format_func=labels.get, key="ack_id")
            user = st.session_state.get("console_user")
            who = user or st.text_input("Your name", key="ack_who")
            note = st.text_input("Why it is acceptable (optional)", key="ack_note")
            if st.form_submit_button("Acknowledge"):
                if not who or not who.strip():
                    st.error("Give your name: the acknowledgement records who made it.")
                else:
                    try:
                        done = db.acknowledge(database_url(), int(record), who.strip(), note)
                    except psycopg.Error as exc:
                        st.error(f"Could not acknowledge record {record}: {exc.diag.message_primary or exc}")
                    else:
                        ui.forget()
                        st.success(f"Record {done['quarantine_id']} acknowledged by {done['acknowledged_by']} at "
                                   f"{ui.when(done['acknowledged_at'])}.")

ui.end()
