"""Cosmos wiring for `shipshape_reconcile`: the project, profile and execution configs.

* **Project.** ``dbt_project/`` with the committed, slimmed manifest ``dbt_project/manifest.json``
  (:func:`shipshape.dbt.write_manifest`; ``make manifest`` or ``python -m shipshape.dbt manifest``
  regenerates it, and ``tests/dbt/test_history_and_plan.py`` fails when it is stale). Cosmos renders the
  DAG from it (``LoadMode.DBT_MANIFEST``), so parsing the DAG never runs dbt and works in a fresh clone.
* **Profile.** Mapped from the Airflow connection ``shipshape_warehouse`` by
  :class:`WarehouseProfileMapping`: the fields :func:`shipshape.warehouse.fields` derives from the
  connection (shipshape's one parser, not Cosmos's reading of Airflow's), so no password (trust/peer auth,
  as in CI and the embedded warehouse) and a unix-socket directory given as ``?host=`` work as they do
  everywhere else. The password, when there is one, reaches dbt only through an environment variable, as
  Cosmos does it; so do the session settings every dbt run uses (:data:`shipshape.dbt.SESSION_OPTIONS`).
* **Execution.** Cosmos's watcher mode (:func:`execution_config`): one producer task,
  ``dbt_producer_watcher``, runs a single ``dbt build`` of the project with dbt's threads, in-process
  through dbt's ``dbtRunner``, and publishes each node's result as it finishes; every seed and model keeps
  a task of its own (a sensor that succeeds or fails with its node), each model with tests a ``test``
  sensor beside it, each test with several parents a sensor of its own. A retry or a clear of one of those
  tasks runs dbt for that node alone. The previous shape, a ``dbt build`` per node in its own task
  (``ExecutionMode.LOCAL``), paid dbt's start-up, the project's ``on-run-start`` hook and a connection per
  node: about 50 times a run (docs/benchmarks.md, "Reconcile DAG run").
  :func:`wire_watcher` fixes three things of the rendered task group for shipshape (see there).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

# No phoning home (shipshape assumes no internet; a failed lookup per task also slows every run). Cosmos
# reads this when first imported; settings is patched too in case something imported it earlier.
os.environ.setdefault("DO_NOT_TRACK", "1")

import cosmos.settings  # noqa: E402
from airflow.configuration import conf as _airflow_conf  # noqa: E402
from airflow.triggers.base import StartTriggerArgs  # noqa: E402
from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig  # noqa: E402
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior  # noqa: E402
from cosmos.operators._watcher import base as _watcher_base  # noqa: E402
from cosmos.profiles.postgres.user_pass import PostgresUserPasswordProfileMapping  # noqa: E402

from shipshape import connections, dbt, warehouse  # noqa: E402
from shipshape.reconcile import node_trigger  # noqa: E402

cosmos.settings.do_not_track = True

# The watcher producer backs up every XCom it pushes (each node's status, events, compiled SQL) to an
# Airflow Variable, rewriting the whole compressed buffer on each push and under the lock dbt's threads
# share: quadratic in the nodes (about 1 500 pushes a run here). With the setting off, Cosmos writes the
# buffer once, when the producer fails or is retried; only a hard kill (OOM, SIGKILL) loses it, and then the
# sensors run their own node (docs/benchmarks.md: the figures). A deployment that sets the option keeps it.
if not _airflow_conf.has_option("cosmos", "enable_watcher_reliable_retry"):
    cosmos.settings.enable_watcher_reliable_retry = False

# The producer pushes one XCom per dbt node event it sees: NodeStart, NodeCompiling, NodeExecuting and
# NodeFinished of every node, all under the same key (`<node>_dbt_event`), so each push but the last is
# overwritten; the sensors read the key once their node's status is terminal, i.e. after NodeFinished.
# The three running events are dropped here: a thousand XCom writes a run, each a round trip to Airflow's
# API under the lock dbt's threads share (docs/benchmarks.md: the producer's time with and without).
# Cosmos 1.15.1's private `_process_dbt_log_event` (cosmos/operators/_watcher/base.py); the pin in
# requirements.txt keeps it, and tests/integration/test_reconcile_dag.py fails if it goes away.
RUNNING_EVENTS = frozenset({"NodeStart", "NodeCompiling", "NodeExecuting"})
_cosmos_process_dbt_log_event = _watcher_base._process_dbt_log_event


def _process_dbt_log_event(task_instance: Any, dbt_log: dict[str, Any]) -> None:
    if (dbt_log.get("info") or {}).get("name") in RUNNING_EVENTS:
        return None
    return _cosmos_process_dbt_log_event(task_instance, dbt_log)


_watcher_base._process_dbt_log_event = _process_dbt_log_event

CONN_ID = warehouse.CONN_ID

# dbt's threads in the producer's one `dbt build` (SHIPSHAPE_DBT_THREADS overrides it). Measured on the
# 2-core machine, a reconcile of the demo's second round: see docs/benchmarks.md.
DEFAULT_THREADS = 4


class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):
    """``shipshape_warehouse`` -> dbt's postgres profile: :func:`shipshape.warehouse.fields` of the
    connection :func:`shipshape.connections.get_connection` finds (``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE``
    read by shipshape's one parser, else Airflow's connections), so dbt under Cosmos reaches the same host,
    port, user, database and sslmode as every other way to the warehouse. No password is fine (trust auth);
    when there is one it reaches dbt only through an environment variable, as Cosmos does it."""

    required_fields = ["host", "user", "dbname"]

    def _fields(self) -> dict[str, str]:
        return warehouse.fields(connections.get_connection(self.conn_id))

    def can_claim_connection(self) -> bool:
        try:
            self._fields()
        except (LookupError, ValueError):
            return False
        return True

    @property
    def profile(self) -> dict[str, Any | None]:
        libpq = self._fields()
        profile: dict[str, Any] = {"type": "postgres", "host": libpq["host"], "port": int(libpq["port"]),
                                   "user": libpq["user"], "dbname": libpq["dbname"]}
        if libpq.get("sslmode"):
            profile["sslmode"] = libpq["sslmode"]
        profile.update(self.profile_args)
        profile.setdefault("schema", "staging")  # a fallback only: every model names its SPEC schema
        profile["password"] = self.get_env_var_format("password")  # the value travels in env_vars only
        return profile

    @property
    def env_vars(self) -> dict[str, str]:
        env = {self.get_env_var_name("password"): self._fields()["password"], "PGOPTIONS": dbt.session_options()}
        if self.disable_event_tracking:
            env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
            env["DO_NOT_TRACK"] = "1"
        return env


def dbt_executable() -> Path:
    """The dbt of this interpreter's environment (falls back to dbt on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return candidate if candidate.exists() else Path("dbt")


def project_config(as_of: str) -> ProjectConfig:
    """The project, rendered from the committed manifest, every dbt command of the DAG judging the data
    at ``as_of`` (the `as_of` task's XCom, templated). The as-of reaches dbt as
    :data:`shipshape.dbt.AS_OF_ENV` in its environment, not as a var, so that dbt's partial parse (which
    Cosmos caches between runs) survives a new as-of (macros/as_of.sql)."""
    # the project has no packages: no `dbt deps` before each task
    return ProjectConfig(manifest_path=dbt.manifest_path(), project_name="shipshape", install_dbt_deps=False,
                         env_vars=dbt.as_of_env(as_of))


def threads() -> int:
    """dbt's threads for the producer's build: ``SHIPSHAPE_DBT_THREADS``, else :data:`DEFAULT_THREADS`."""
    return int(os.environ.get(f"{dbt.ENV_PREFIX}THREADS") or DEFAULT_THREADS)


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="shipshape",
        target_name="warehouse",
        profile_mapping=WarehouseProfileMapping(conn_id=CONN_ID,
                                                profile_args={"schema": "staging", "threads": threads()}),
    )


def execution_config() -> ExecutionConfig:
    """Watcher mode, dbt in-process. The producer's own retry never runs dbt again (Cosmos skips it,
    restoring the node results of the first try for the sensors), so it retries at once: a failed model
    then fails its own sensor, not every sensor of the group (see :func:`wire_watcher`)."""
    return ExecutionConfig(
        execution_mode=ExecutionMode.WATCHER,
        invocation_mode=InvocationMode.DBT_RUNNER,
        dbt_executable_path=str(dbt_executable()),
        dbt_project_path=dbt.project_dir(),
        # the producer's build leaves the unit tests out (PIPELINE_FLAGS); see operator_args for the sensors
        setup_operator_args={"retries": 1, "retry_delay": timedelta(seconds=1),
                             "retry_exponential_backoff": False, "dbt_cmd_flags": list(dbt.PIPELINE_FLAGS)},
    )


def operator_args() -> dict[str, Any]:
    """What every dbt task of the DAG gets: its retries. The pipeline's flags
    (:data:`shipshape.dbt.PIPELINE_FLAGS`: no unit tests) go to the commands that would run unit tests:
    the producer's `dbt build` (:func:`execution_config`) and a test sensor's own `dbt test` when it is
    retried or cleared (:func:`wire_watcher`); `dbt run` and `dbt seed`, which a model or seed sensor runs
    then, never run unit tests and refuse the flag."""
    return {"retries": 2}


def render_config() -> RenderConfig:
    """A task per seed and model; a model with tests is a group of its ``run`` and ``test`` sensors
    (``TestBehavior.AFTER_EACH``: in watcher mode the tests still run inside the producer's ``dbt build``,
    right after their model; ``TestBehavior.BUILD`` has no watcher operator); a test with several parents
    (relationships) gets its own task after all of them."""
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        # Cosmos would emit an Asset per model named after the warehouse's host and port; nothing is
        # scheduled on them, and Airflow 3 warns about each on every run. Cosmos takes this from here and
        # overrides any emit_datasets in operator_args.
        emit_datasets=False,
        test_behavior=TestBehavior.AFTER_EACH,
        should_detach_multiple_parents_tests=True,
    )


PRODUCER_TASK = "dbt_producer_watcher"


def wire_watcher(group: Any) -> None:
    """Five changes to the watcher task group Cosmos 1.15.1 renders, for shipshape's DAG.

    1. **The producer runs before every sensor.** In a ``DbtTaskGroup`` Cosmos leaves the sensors with no
       tie to the producer (only a ``DbtDag`` gets ``producer >> roots``), so ``dag.test()``, which runs
       one task at a time, can start a sensor whose inline trigger then waits for a producer that never
       runs. Here the producer is upstream of every root sensor, with ``trigger_rule="none_failed"``:
       they start once the producer succeeded, or was skipped by its own retry after a failed node (Cosmos
       then restores the node results, and the failed node's sensor fails with it); a failed ``as_of``
       (the producer ``upstream_failed``) stops them.
    2. **A test with several parents reports.** Its sensor watches ``<test id>_tests_status``, which the
       producer only publishes for the models in ``tests_per_model``; the detached test is added there
       as a "model" of its own, so the producer publishes its result under that key too.
    3. **A test sensor's own run leaves the unit tests out.** When retried or cleared it runs ``dbt test``
       of its model, which would run the model's unit tests too; it gets :data:`shipshape.dbt.PIPELINE_FLAGS`
       (a model or seed sensor runs ``dbt run``/``dbt seed``, which refuse that flag).

    4. **A sensor whose node succeeded ends in the triggerer.** Every sensor starts from
       :class:`shipshape.reconcile.node_trigger.NodeResultTrigger` (``start_from_trigger``): in a
       deployment the scheduler defers it straight to the triggerer, which ends it when its node
       succeeded, so no worker process is spent on reading a result; a failed node, a retry or a clear
       goes on to a worker as before. ``dag.test()`` runs each sensor's ``execute`` as usual.

    5. **A model's tests hang off its model.** Cosmos chains ``X.run >> X.test >> Y.run`` for a model Y
       built on X, so every model adds two steps to the longest path of sensors the scheduler walks one
       step at a time (a few seconds each); the sensors start after the producer's build, whose order
       dbt already kept, so the chain only orders reports. Here Y's sensor follows ``X.run`` and
       ``X.test`` is a leaf beside it: the lineage of models stays as dbt's, the path is half as long.
       A failed test still fails its own task, and dbt skips what was built on it, which skips those
       sensors; the marts gate waits for every leaf, so it and the push still need every test.

    The group's ``dbt_producer_watcher_done`` stays a leaf, so the marts gate waits for the producer as
    well as for every sensor.
    """
    tasks = {t.task_id: t for t in group.dag.tasks if t.task_id.startswith(f"{group.group_id}.")}
    producer = tasks[f"{group.group_id}.{PRODUCER_TASK}"]
    for task in tasks.values():
        if not hasattr(task, "producer_task_id") or task is producer:
            continue
        uid = getattr(task, "model_unique_id", None)
        if getattr(task, "is_test_sensor", False):
            task.dbt_cmd_flags = list(dbt.PIPELINE_FLAGS)  # its fallback is a `dbt test`
            if uid and uid.startswith("test."):
                producer.tests_per_model.setdefault(uid, [uid])
        if not (task.upstream_task_ids & tasks.keys()):
            producer >> task
            task.trigger_rule = "none_failed"
        if getattr(task, "is_test_sensor", False) and uid and not uid.startswith("test."):
            model_sensor = tasks.get(task.task_id.removesuffix(".test") + ".run")
            for downstream_id in list(task.downstream_task_ids) if model_sensor else []:
                task.downstream_task_ids.discard(downstream_id)
                downstream = group.dag.task_dict[downstream_id]
                downstream.upstream_task_ids.discard(task.task_id)
                model_sensor >> downstream
        task.start_from_trigger = True
        task.start_trigger_args = StartTriggerArgs(
            trigger_cls=node_trigger.CLASSPATH, next_method="execute_complete", next_kwargs=None, timeout=None,
            trigger_kwargs={"model_unique_id": uid, "producer_task_id": producer.task_id,
                            "is_test_sensor": bool(getattr(task, "is_test_sensor", False))})

