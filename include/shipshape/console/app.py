"""The console's entry point (``streamlit run`` this file, or ``shipshape console``): the login when one is
needed, then the six pages."""

from __future__ import annotations

import hmac
from pathlib import Path

import streamlit as st

from shipshape.console.settings import PASSWORD_ENV, ConsoleSettings

HERE = Path(__file__).parent
PAGES = [
    ("pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    ("pages/orders.py", "Orders", ":material/receipt_long:", "orders"),
    ("pages/corrections.py", "Corrections", ":material/build:", "corrections"),
    ("pages/stages.py", "Processing vs fulfillment", ":material/local_shipping:", "stages"),
    ("pages/quality.py", "Data quality", ":material/fact_check:", "quality"),
    ("pages/inventory.py", "Inventory and payments", ":material/inventory_2:", "inventory"),
]

st.set_page_config(page_title="shipshape console", page_icon=":material/sailing:", layout="wide")
settings = ConsoleSettings.from_env()


def login() -> None:
    """Ask for the password (compared in constant time) and a name, which acknowledgements record."""
    st.title("shipshape console")
    if not settings.password:
        st.error(f"This console listens beyond this machine and has no login: set {PASSWORD_ENV} and restart it.")
        st.stop()
    with st.form("login"):
        name = st.text_input("Your name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if hmac.compare_digest(password.encode(), settings.password.encode()) and name.strip():
            st.session_state["console_user"] = name.strip()
            st.rerun()
        st.error("Wrong password, or no name given.")
    st.stop()


if settings.login_required(st.get_option("server.address")) and not st.session_state.get("console_user"):
    login()

if st.session_state.get("console_user"):
    st.sidebar.caption(f"Logged in as {st.session_state['console_user']}")
page = st.navigation([st.Page(HERE / path, title=title, icon=icon, url_path=url, default=url == "overview")
                      for path, title, icon, url in PAGES])
page.run()
