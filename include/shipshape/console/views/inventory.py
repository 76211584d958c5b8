"""Inventory and payments: SKUs whose available quantity differs between Shopify and ShipHero, and
payments that link to no order (ORPHAN_PAYMENT)."""

from __future__ import annotations

import streamlit as st

from shipshape.console import ui

ui.header("Inventory and payments", "Stock that is out of sync, and money nobody ordered.")

st.subheader("SKUs out of sync (Shopify vs ShipHero available)")
skus = ui.q("inventory_out_of_sync")
st.metric("SKUs out of sync", 0 if skus is None else len(skus))
if not ui.missing(skus, "SKUs out of sync"):
    ui.table(skus, "inventory", hide_index=True)

st.subheader("Orphan payments")
orphans = ui.q("orphan_payments")
st.metric("Orphan payments", 0 if orphans is None else len(orphans))
if not ui.missing(orphans, "Orphan payments"):
    ui.table(orphans, "orphans", hide_index=True)

ui.end()
