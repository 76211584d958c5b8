"""Where Airflow sends a person (shipshape.links): the console at an as-of, the Data Docs, the navigation
the plugin adds, with and without a console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shipshape import links

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_the_console_at_an_as_of_takes_it_as_iso_8601_in_utc():
    env = {"SHIPSHAPE_CONSOLE_URL": "http://127.0.0.1:8501/"}
    assert links.console_at(AS_OF, env) == "http://127.0.0.1:8501/?as_of=2026-11-01T12%3A00%3A00Z"
    # the same moment in another zone is the same link
    assert links.console_at(AS_OF.astimezone(timezone(timedelta(hours=2))), env) == links.console_at(AS_OF, env)
    assert links.console_at(None, env) == "http://127.0.0.1:8501/"
    assert links.console_at(AS_OF, {}) is None
    with pytest.raises(ValueError, match="SHIPSHAPE_CONSOLE_URL='127.0.0.1:8501'"):
        links.console_url({"SHIPSHAPE_CONSOLE_URL": "127.0.0.1:8501"})


def test_data_docs_and_run_pages_are_under_airflows_address():
    env = {"AIRFLOW__API__BASE_URL": "https://airflow.example.com/team/"}
    assert links.data_docs_path(env) == "/team/shipshape/data-docs/index.html"
    assert links.data_docs_url(env) == "https://airflow.example.com/team/shipshape/data-docs/index.html"
    assert links.run_url("shipshape_reconcile", "manual__2026-11-01T12:00:00+00:00", env) == (
        "https://airflow.example.com/team/dags/shipshape_reconcile/runs/manual__2026-11-01T12%3A00%3A00%2B00%3A00")
    assert links.data_docs_path({}) == "/shipshape/data-docs/index.html" and links.data_docs_url({}) is None


def test_the_navigation_has_the_console_only_when_there_is_one_and_frames_it_unless_mixed_content():
    assert [v["name"] for v in links.navigation({})] == ["Data Docs"]
    http_ui = {"SHIPSHAPE_CONSOLE_URL": "http://127.0.0.1:8501", "AIRFLOW__API__BASE_URL": "http://127.0.0.1:8080"}
    console = links.navigation(http_ui)[0]
    assert console == {"name": "Console", "href": "http://127.0.0.1:8501/", "destination": "nav",
                       "nav_top_level": True, "url_route": "shipshape-console"}
    https_ui = {**http_ui, "AIRFLOW__API__BASE_URL": "https://airflow.example.com"}
    assert "url_route" not in links.navigation(https_ui)[0]  # an http frame in an https page is blocked
    assert "url_route" in links.navigation({**https_ui, "SHIPSHAPE_CONSOLE_EMBED": "true"})[0]
    assert "url_route" not in links.navigation({**http_ui, "SHIPSHAPE_CONSOLE_EMBED": "false"})[0]
