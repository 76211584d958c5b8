"""Cosmos wiring for `shipshape_reconcile`: the project, profile and execution configs.

* **Project.** ``dbt_project/`` with the committed, slimmed manifest ``dbt_project/manifest.json``
  (:func:`shipshape.dbt.write_manifest`; ``make manifest`` or ``python -m shipshape.dbt manifest``
  regenerates it, and ``tests/dbt/test_history_and_plan.py`` fails when it is stale). Cosmos renders the
  DAG from it (``LoadMode.DBT_MANIFEST``), so parsing the DAG never runs dbt and works in a fresh clone.
* **Profile.** Mapped from the Airflow connection ``shipshape_warehouse`` by
  :class:`WarehouseProfileMapping`, Cosmos's ``PostgresUserPasswordProfileMapping`` made to accept what
  shipshape's warehouses look like: no password (trust/peer auth, as in CI and the embedded warehouse)
  and a unix-socket directory given as ``?host=`` (the embedded warehouse). The password, when there is
  one, reaches dbt only through an environment variable, as Cosmos does it; so do the session settings
  every dbt run uses (:data:`shipshape.dbt.SESSION_OPTIONS`).
* **Execution.** dbt of this interpreter's virtualenv, invoked in-process through dbt's ``dbtRunner``:
  a subprocess per task paid a Python start and dbt import each time, and halved a run's speed (a
  150-order reconcile under ``dag.test()``: 267 s as subprocesses, 142 s in-process).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# No phoning home (shipshape assumes no internet; a failed lookup per task also slows every run). Cosmos
# reads this when first imported; settings is patched too in case something imported it earlier.
os.environ.setdefault("DO_NOT_TRACK", "1")

import cosmos.settings  # noqa: E402
from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig  # noqa: E402
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior  # noqa: E402
from cosmos.profiles.postgres.user_pass import PostgresUserPasswordProfileMapping  # noqa: E402

from shipshape import dbt  # noqa: E402

cosmos.settings.do_not_track = True

CONN_ID = "shipshape_warehouse"


class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):
    """``shipshape_warehouse`` -> dbt's postgres profile; password optional, socket host understood."""

    required_fields = ["host", "user", "dbname"]

    def _extra(self, name: str) -> str | None:
        """A libpq parameter Airflow kept in the connection's extra (unknown URI query parameters)."""
        extra = self.conn.extra_dejson or {}
        if extra.get(name):
            return str(extra[name])
        return dict(parse_qsl(urlsplit(self.conn.get_uri()).query)).get(name)

    @property
    def profile(self) -> dict[str, Any | None]:
        profile = super().profile
        if not profile.get("host"):
            profile["host"] = self._extra("host") or "127.0.0.1"
        if not self.conn.port and self._extra("port"):
            profile["port"] = int(self._extra("port"))
        if not profile.get("user"):
            profile["user"] = "postgres"
        profile.setdefault("schema", "staging")  # a fallback only: every model names its SPEC schema
        return profile

    @property
    def env_vars(self) -> dict[str, str]:
        env = {self.get_env_var_name("password"): str(self.get_dbt_value("password") or ""),
               "PGOPTIONS": dbt.session_options()}
        if self.disable_event_tracking:
            env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
            env["DO_NOT_TRACK"] = "1"
        return env


def dbt_executable() -> Path:
    """The dbt of this interpreter's environment (falls back to dbt on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return candidate if candidate.exists() else Path("dbt")


def project_config() -> ProjectConfig:
    # the project has no packages: no `dbt deps` before each task
    return ProjectConfig(manifest_path=dbt.manifest_path(), project_name="shipshape", install_dbt_deps=False)


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="shipshape",
        target_name="warehouse",
        profile_mapping=WarehouseProfileMapping(conn_id=CONN_ID, profile_args={"schema": "staging"}),
    )


def execution_config() -> ExecutionConfig:
    return ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,
        dbt_executable_path=str(dbt_executable()),
        dbt_project_path=dbt.project_dir(),
    )


def operator_args(as_of: str) -> dict[str, Any]:
    """What every dbt task of the DAG gets: the as-of (a template of the run's interval end), the
    pipeline's flags (:data:`shipshape.dbt.PIPELINE_FLAGS`: no unit tests) and its retries."""
    return {
        "vars": {"as_of": as_of},
        "dbt_cmd_flags": list(dbt.PIPELINE_FLAGS),
        "retries": 2,
    }


def render_config() -> RenderConfig:
    """A task per seed and model running ``dbt build`` of it (the node, then its tests); a test with
    several parents (relationships) gets its own task after all of them."""
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        # Cosmos would emit an Asset per model named after the warehouse's host and port; nothing is
        # scheduled on them, and Airflow 3 warns about each on every run. Cosmos takes this from here and
        # overrides any emit_datasets in operator_args.
        emit_datasets=False,
        test_behavior=TestBehavior.BUILD,
        should_detach_multiple_parents_tests=True,
    )
