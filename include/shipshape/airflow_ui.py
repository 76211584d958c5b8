"""What the shipshape plugin (`plugins/shipshape_plugin.py`) adds to Airflow's UI, and the task links the
reconcile DAG carries. The URLs themselves are built by `shipshape.links`.

* **Navigation** (`external_views`): the console, when `SHIPSHAPE_CONSOLE_URL` is set, and the Data Docs.
* **Data Docs under Airflow's address**: a small FastAPI app, mounted on the api-server at
  `shipshape.links.DATA_DOCS_ROUTE`, serves the folder the gates write (`SHIPSHAPE_DATA_DOCS_DIR`) to
  logged-in users only (the same check as the UI's own pages: the JWT cookie or bearer token).
* **Per-run links** (operator extra links): *Console at as-of* and *Data Docs*, on the reconcile DAG's
  `as_of` task and both gates. Airflow 3 computes an extra link in the worker when the task finishes and
  keeps it as an XCom, which the UI shows as a button on the task instance; the console link reads the
  run's as-of from the `as_of` task's XCom (never recomputed). With no console configured the console
  link is empty, and the UI shows no button for an empty link.

Why extra links and not an `external_views` entry with `destination="dag_run"`: Airflow 3.3 shows such a
view as a tab on *every* DAG's runs, its URL template knows only the DAG and run ids (not the as-of),
and it renders in a sandboxed frame that may not open a new tab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperatorLink

from shipshape import links

AS_OF_TASK = "as_of"  # the reconcile DAG's first task, whose XCom is the run's as-of


def _run_as_of(ti_key: Any):
    """The as-of the run's `as_of` task resolved (None before it has)."""
    from airflow.sdk.execution_time.xcom import XCom

    from shipshape.reconcile.as_of import parse_moment

    return parse_moment(XCom.get_one(key="return_value", dag_id=ti_key.dag_id, task_id=AS_OF_TASK,
                                     run_id=ti_key.run_id))


class ConsoleLink(BaseOperatorLink):
    """The console's overview at the run's as-of."""

    name = "Console at as-of"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if links.console_url() is None:
            return ""
        as_of = _run_as_of(ti_key)
        return (links.console_at(as_of) or "") if as_of is not None else ""


class DataDocsLink(BaseOperatorLink):
    """The gates' Data Docs, as the plugin serves them."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return links.data_docs_path()


def run_links() -> list[BaseOperatorLink]:
    """The links a reconcile task that judges at the run's as-of carries."""
    return [ConsoleLink(), DataDocsLink()]


def data_docs_app(folder: Path | None = None):
    """A FastAPI app serving the Data Docs folder (read when a request comes: the gates write it after
    the api-server started). Only for logged-in users; no path outside the folder."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, RedirectResponse

    from shipshape.quality.settings import data_docs_dir

    app = FastAPI(title="shipshape Data Docs", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = [Depends(requires_access_view(AccessView.WEBSITE))]

    @app.get("/", dependencies=allowed, include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("index.html")

    @app.get("/{path:path}", dependencies=allowed, include_in_schema=False)
    def page(path: str) -> FileResponse:
        root = (folder or data_docs_dir()).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise HTTPException(404, "not found")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            detail = ("no Data Docs yet: a quality gate writes them when it runs" if path in ("", "index.html")
                      else "not found")
            raise HTTPException(404, detail)
        return FileResponse(target)

    return app


def fastapi_apps() -> list[dict[str, Any]]:
    return [{"app": data_docs_app(), "url_prefix": links.DATA_DOCS_ROUTE, "name": "shipshape Data Docs"}]


class built_on_first_read:  # noqa: N801 - used like a decorator-made attribute
    """A plugin class attribute computed when first read, then kept. Every Airflow process loads the
    plugin (a task runner for its macros and listeners) but only the api-server reads `fastapi_apps`:
    building the app there alone keeps FastAPI and the API's security module out of every task."""

    def __init__(self, build) -> None:
        self.build = build
        self.value = None

    def __get__(self, instance: object, owner: type) -> Any:
        if self.value is None:
            self.value = self.build()
        return self.value
