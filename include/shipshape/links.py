"""Where a person goes from Airflow: the console (at a run's as-of), the Data Docs, a run's page.

Stated once here and used by the Airflow plugin (navigation, per-run links), the reconcile DAG's task
links and the alert digest. Standard library only: the DAG file and the plugin import it at parse time.

* **The console** is wherever `SHIPSHAPE_CONSOLE_URL` says (`make up` sets it for every Airflow
  process; unset: no console, so no navigation entry and no console link). Its overview page takes
  `?as_of=<ISO-8601>`.
* **The Data Docs** are the static site the quality gates write (`shipshape.quality.settings`); the
  plugin serves that folder under Airflow's own address, at `DATA_DOCS_ROUTE`, so a browser can open
  it from the UI (a `file://` link from an `http://` page is blocked by every browser).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

CONSOLE_URL_ENV = "SHIPSHAPE_CONSOLE_URL"
# "true"/"false": show the console inside Airflow's UI (an iframe) or open it in a new tab; unset: inside,
# unless that would be an http page framed in an https UI (browsers block such mixed content)
CONSOLE_EMBED_ENV = "SHIPSHAPE_CONSOLE_EMBED"
DATA_DOCS_ROUTE = "/shipshape/data-docs"  # the plugin's FastAPI app, mounted on Airflow's api-server
CONSOLE_NAV_ROUTE = "shipshape-console"  # the UI page `/plugin/<route>` that frames the console
DATA_DOCS_NAV_ROUTE = "shipshape-data-docs"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def console_url(env: Mapping[str, str] | None = None) -> str | None:
    """The console's base address (no trailing slash), or None when none is configured. Only http(s):
    anything else is a mistake a browser could not open."""
    value = (_env(env).get(CONSOLE_URL_ENV) or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{CONSOLE_URL_ENV}={value!r}: give the console's http(s) address, e.g. http://127.0.0.1:8501")
    return value.rstrip("/")


def iso(moment: datetime) -> str:
    """An as-of as the console's `?as_of=` takes it: ISO-8601 in UTC, `Z` for the zone."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def console_at(as_of: datetime | None, env: Mapping[str, str] | None = None) -> str | None:
    """The console's overview at `as_of` (its latest state when None); None without a console."""
    base = console_url(env)
    if base is None:
        return None
    return f"{base}/" + (f"?{urlencode({'as_of': iso(as_of)})}" if as_of is not None else "")


def airflow_base_url(env: Mapping[str, str] | None = None) -> str | None:
    """Airflow's own address as its processes are told it (`[api] base_url`), without a trailing slash."""
    value = (_env(env).get("AIRFLOW__API__BASE_URL") or "").strip()
    return value.rstrip("/") or None


def data_docs_path(env: Mapping[str, str] | None = None) -> str:
    """The Data Docs index as a path on Airflow's address (below the base URL's own path, if any): what a
    link inside the UI uses, so it works whatever host name the browser reached Airflow by."""
    base = airflow_base_url(env)
    prefix = urlsplit(base).path.rstrip("/") if base else ""
    return f"{prefix}{DATA_DOCS_ROUTE}/index.html"


def data_docs_url(env: Mapping[str, str] | None = None) -> str | None:
    """The Data Docs index as an absolute URL (for a message read outside the UI); None when Airflow's
    address is not known."""
    base = airflow_base_url(env)
    if base is None:
        return None
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{data_docs_path(env)}"


def run_url(dag_id: str, run_id: str, env: Mapping[str, str] | None = None) -> str | None:
    """A DAG run's page in Airflow's UI; None when Airflow's address is not known."""
    base = airflow_base_url(env)
    if base is None:
        return None
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def embed_console(env: Mapping[str, str] | None = None) -> bool:
    """Whether the UI frames the console (else its navigation entry opens it in a new tab)."""
    env = _env(env)
    setting = (env.get(CONSOLE_EMBED_ENV) or "").strip().lower()
    if setting in ("true", "1", "yes"):
        return True
    if setting in ("false", "0", "no"):
        return False
    console, airflow = console_url(env), airflow_base_url(env)
    if console is None:
        return False
    # an https UI may not frame an http page (mixed content); every other pairing may
    return not (airflow and airflow.startswith("https://") and console.startswith("http://"))


def navigation(env: Mapping[str, str] | None = None) -> list[dict[str, object]]:
    """The plugin's `external_views`: the console (when configured) and the Data Docs, each an item of the
    navigation's top level (else Airflow 3.3 files them under its "Plugins" menu). An entry with a
    `url_route` is shown inside Airflow's UI; one without opens in a new tab."""
    views: list[dict[str, object]] = []
    console = console_url(env)
    if console is not None:
        view: dict[str, object] = {"name": "Console", "href": f"{console}/", "destination": "nav",
                                   "nav_top_level": True}
        if embed_console(env):
            view["url_route"] = CONSOLE_NAV_ROUTE
        views.append(view)
    views.append({"name": "Data Docs", "href": data_docs_path(env), "destination": "nav", "nav_top_level": True,
                  "url_route": DATA_DOCS_NAV_ROUTE})
    return views
