"""The console's entry point (``streamlit run`` this file, or ``shipshape console``): the login when one is
needed, then the six pages."""

from __future__ import annotations

import hmac
import runpy
from pathlib import Path

import streamlit as st

from shipshape.console import PAGES
from shipshape.console.settings import PASSWORD_ENV, ConsoleSettings

HERE = Path(__file__).parent

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


def overview_at_its_name() -> None:
    """/overview, beside / (Streamlit serves the default page at the root, and only there, while its own
    url_path stays reserved): a link may name the page or not."""
    runpy.run_path(str(HERE / PAGES[0][0]), run_name="__main__")


pages = [st.Page(HERE / path, title=title, icon=icon, url_path="home" if number == 0 else url,
                 default=number == 0) for number, (path, title, icon, url) in enumerate(PAGES)]
pages.append(st.Page(overview_at_its_name, title=PAGES[0][1], url_path=PAGES[0][3], visibility="hidden"))
st.navigation(pages).run()
