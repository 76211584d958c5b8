"""What every console page shares: reads through a short-lived cache, the as-of banner, and the time
format. Pages call :func:`q` with a query's name from ``queries.py`` and its arguments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from shipshape.console import END_MARKER, queries
from shipshape.console.settings import ConsoleSettings, database_url

SETTINGS = ConsoleSettings.from_env()


@st.cache_data(ttl=SETTINGS.cache_ttl, show_spinner=False)
def _cached(name: str, url: str, args: tuple[Any, ...]) -> pd.DataFrame | None:
    return getattr(queries, name)(url, *args)


def q(name: str, *args: Any) -> pd.DataFrame | None:
    """``queries.<name>(url, *args)``, reused for up to the cache TTL."""
    return _cached(name, database_url(), args)


def forget() -> None:
    """Drop every cached answer (after a write, so the page shows it)."""
    _cached.clear()


def when(value: Any) -> str:
    """A timestamp as people read it here: UTC, to the second."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    moment = pd.Timestamp(value)
    moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def marts_as_of() -> pd.Timestamp | None:
    frame = q("marts_as_of")
    if frame is None or frame.empty:
        return None
    value = frame.iloc[0]["orders_as_of"]
    if value is None or pd.isna(value):
        value = frame.iloc[0]["daily_as_of"]
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def header(title: str, about: str) -> pd.Timestamp | None:
    """The page's title and the as-of of the data it reads (every page shows it); returns that as-of."""
    st.title(title)
    st.caption(about)
    as_of = marts_as_of()
    read_at = datetime.now(UTC).strftime("%H:%M:%S UTC")
    if as_of is None:
        st.warning("The marts are not built yet: run shipshape_reconcile (or `shipshape dbt build`). "
                   f"Read at {read_at}.")
    else:
        st.info(f"Data as of **{when(as_of)}** (the marts' as-of) · read at {read_at}, answers reused for up to "
                f"{SETTINGS.cache_ttl:g} s", icon=":material/schedule:")
    return as_of


def missing(frame: pd.DataFrame | None, what: str) -> bool:
    """Say so when a relation is missing (nothing has written it yet) or empty; True when there is nothing."""
    if frame is None:
        st.caption(f"{what}: not recorded yet in this warehouse.")
        return True
    if frame.empty:
        st.caption(f"{what}: none.")
        return True
    return False


def table(data: Any, key: str, **kwargs: Any) -> None:
    """``st.dataframe`` in a container keyed ``key``, so a test (and a stylesheet) can find it by name."""
    with st.container(key=key):
        st.dataframe(data, **kwargs)


def end() -> None:
    """Mark the end of a page, for a browser to wait for (shipshape.console.RENDERED_JS)."""
    st.html(f'<span id="{END_MARKER}"></span>')
