"""Corrections: the outbox by status, target and action; failed actions with their error and next
attempt; the latest plan's actions still only planned (a dry run), with before -> after; refused plans
and why."""

from __future__ import annotations

import streamlit as st

from shipshape.console import ui

ui.header("Corrections", "What the push planned, sent, and could not send (ops.correction_log).")

st.subheader("The outbox by status, target and action")
counts = ui.q("outbox_counts")
if not ui.missing(counts, "The outbox (ops.correction_log)"):
    by_status = counts.groupby("status")["actions"].sum()
    for column, (status, n) in zip(st.columns(len(by_status)), by_status.items(), strict=True):
        column.metric(status, int(n))
    ui.table(counts, "outbox_counts", hide_index=True)

st.subheader("Failed actions")
failed = ui.q("failed_actions")
if not ui.missing(failed, "Failed actions"):
    st.caption("each is retried by a later run after its backoff (next_attempt_at)")
    ui.table(failed, "failed_actions", hide_index=True)

st.subheader("The latest plan, not sent (dry run)")
counts = ui.q("planned_counts")
if not ui.missing(counts, "Planned actions not sent"):
    total = int(counts["actions"].sum())
    st.caption(f"{total} action(s) of the plan built as of {ui.when(counts['as_of'].max())} are recorded as planned "
               "and were not sent: a dry run, or no push since")
    ui.table(counts.drop(columns=["as_of"]), "planned_counts", hide_index=True)
    diffs = ui.q("planned_actions")
    if total > len(diffs):
        st.caption(f"before → after of the {len(diffs)} with the most money at risk")
    ui.table(diffs, "planned_diffs", hide_index=True)

st.subheader("Refused plans")
refused = ui.q("refused_runs")
if not ui.missing(refused, "Refused plans"):
    for _, row in refused.iterrows():
        st.warning(f"run {row['run_id']} ({ui.when(row['refused_at'])}), {row['actions']} action(s): {row['reason']}")
    ui.table(refused, "refused_runs", hide_index=True)

ui.end()
