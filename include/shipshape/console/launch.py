"""Streamlit's command line with the console's heavy imports done first: ``python -m
shipshape.console.launch run app.py ...`` is ``streamlit run app.py ...`` in a process that has already
imported what every page needs (pandas, Arrow, Altair, psycopg).

Streamlit runs each page's script in the server's own process, so a module imported here is imported for
every session; without it the first person to open a fresh console waited for those imports (0.6–0.8 s
on this project's 2-core machine).
"""

from __future__ import annotations

import importlib
import sys
import time

# what the pages import or Streamlit imports on a page's first chart or table. Not the console's own
# modules: their st.cache_data functions must be made once Streamlit's runtime exists (made before it,
# they would cache in a store of their own)
PRELOAD = ("pandas", "pyarrow", "altair", "psycopg", "streamlit.elements.vega_charts", "streamlit.elements.arrow")


def preload() -> float:
    """Import :data:`PRELOAD`; returns the seconds it took."""
    started = time.monotonic()
    for name in PRELOAD:
        importlib.import_module(name)
    return time.monotonic() - started


def main() -> None:
    took = preload()
    print(f"shipshape console: page modules imported in {took:.1f} s", file=sys.stderr, flush=True)
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
