"""Run dbt on shipshape's project against the `shipshape_warehouse` connection.

dbt's profile (``dbt_project/profiles.yml``) holds no credentials: it reads ``SHIPSHAPE_DBT_HOST``,
``_PORT``, ``_USER``, ``_PASSWORD``, ``_DBNAME`` and ``_SSLMODE`` with ``env_var()``. This module
derives them from the warehouse connection (the Airflow connection ``shipshape_warehouse``, or the
embedded warehouse when that is unset and the server runs: :func:`shipshape.warehouse.connection`) and runs
dbt in a child process with them, so the password lives only in that process's environment and never on a
command line or in a log.

Each run gets ``--project-dir``/``--profiles-dir`` for the project, the as-of when given as
``SHIPSHAPE_AS_OF`` in its environment (macros/as_of.sql; not a var, because a changed var makes dbt
parse the whole project again, and the as-of changes on every run), and, when asked, its own target and
log directories (``DBT_TARGET_PATH``/``DBT_LOG_PATH``), so runs in parallel (pytest workers, backfills)
do not overwrite each other's manifest. A child process rather than ``dbtRunner`` in-process: dbt's
in-process runner reads the profile variables from ``os.environ`` and keeps global state between
invocations, neither of which suits a long-lived Airflow worker or a parallel test session.

    from shipshape import dbt
    result = dbt.run(["build", "--select", "staging"], as_of="2026-11-01T12:00:00Z")
    result.raise_for_status()

``python -m shipshape.dbt build --select staging [--vars ...]`` does the same from a shell.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shipshape import connections, warehouse
from shipshape.connections import Connection

log = logging.getLogger(__name__)

ENV_PREFIX = "SHIPSHAPE_DBT_"
PROFILE_NAME = "shipshape"

# Settings of every dbt session (libpq reads them from PGOPTIONS). The project runs many mid-sized
# statements (an incremental run, mostly small ones over large tables): LLVM's JIT, which Postgres turns on
# for any statement it costs above jit_above_cost, spent longer compiling them than it saved (one plan took
# 12 s to compile for 0.7 s of work; docs/benchmarks.md).
SESSION_OPTIONS = "-c jit=off"

# What the pipeline adds to every `dbt build`: unit tests check the models' logic against fixed inputs,
# which only a change of code can break, so CI runs them (make test) and the scheduled runs leave them
# out, as dbt advises for production.
PIPELINE_FLAGS = ("--exclude-resource-type", "unit_test")


def session_options(env: Mapping[str, str] | None = None) -> str:
    """PGOPTIONS for a dbt run: shipshape's session settings, then any the environment already sets
    (a later `-c` wins, so an operator's own PGOPTIONS overrides ours)."""
    own = (os.environ if env is None else env).get("PGOPTIONS", "").strip()
    return f"{SESSION_OPTIONS} {own}".strip()


def project_dir() -> Path:
    """The dbt project: ``dbt_project/`` in the checkout (``$SHIPSHAPE_DBT_PROJECT_DIR`` overrides it)."""
    override = os.environ.get("SHIPSHAPE_DBT_PROJECT_DIR")
    return Path(override).resolve() if override else warehouse.project_root() / "dbt_project"


def profile_env(target: Connection | str) -> dict[str, str]:
    """The ``SHIPSHAPE_DBT_*`` variables profiles.yml reads, for the warehouse connection ``target`` (a
    ``postgresql://`` URL is an Airflow connection's URI form, and is read as one).

    The values are :func:`shipshape.warehouse.fields` of the connection: host (or a unix-socket
    directory), port, user, password, database, and ``sslmode`` when its extra has one.
    """
    conn = connections.parse(warehouse.CONN_ID, target) if isinstance(target, str) else target
    libpq = warehouse.fields(conn)
    env = {f"{ENV_PREFIX}{name.upper()}": libpq[name] for name in ("host", "port", "user", "password", "dbname")}
    if libpq.get("sslmode"):
        env[f"{ENV_PREFIX}SSLMODE"] = libpq["sslmode"]
    return env


@dataclass
class DbtResult:
    """What one dbt invocation did."""

    args: list[str]
    returncode: int
    output: str  # dbt's console output (no secrets: the password is masked should dbt ever print it)
    target_path: Path
    results: list[dict[str, Any]] = field(default_factory=list)  # run_results.json "results"

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def statuses(self) -> dict[str, str]:
        """unique_id -> status (success, pass, warn, error, fail, skipped) of every node run."""
        return {r["unique_id"]: r["status"] for r in self.results}

    def not_passed(self) -> dict[str, str]:
        """Nodes whose status is neither success nor pass (warnings included), with their message."""
        return {
            r["unique_id"]: f"{r['status']}: {r.get('message') or ''}".strip()
            for r in self.results
            if r["status"] not in ("success", "pass")
        }

    def raise_for_status(self) -> DbtResult:
        if not self.success:
            failed = "; ".join(f"{k} {v}" for k, v in self.not_passed().items()) or self.output[-2000:]
            raise DbtError(f"dbt {' '.join(self.args)} failed (exit {self.returncode}): {failed}")
        return self


class DbtError(RuntimeError):
    """dbt exited non-zero."""


def _as_of_text(as_of: datetime | str) -> str:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        return as_of.isoformat()
    return str(as_of)


# The environment variable macros/as_of.sql reads the as-of from (it wins over the var `as_of`).
AS_OF_ENV = "SHIPSHAPE_AS_OF"


def as_of_env(as_of: datetime | str) -> dict[str, str]:
    """The environment that makes a dbt run judge the data at ``as_of``."""
    return {AS_OF_ENV: _as_of_text(as_of)}


def command(args: Sequence[str], *, vars: Mapping[str, Any] | None = None) -> list[str]:
    """The dbt command line (no secrets on it) for ``args``, with the project, profile and vars."""
    cmd = [sys.executable, "-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())", *args]
    project = str(project_dir())
    cmd += ["--project-dir", project, "--profiles-dir", project]
    if vars:
        cmd += ["--vars", json.dumps(dict(vars), sort_keys=True, default=str)]
    return cmd


def run(args: Sequence[str], *, url: str | None = None, vars: Mapping[str, Any] | None = None,
        as_of: datetime | str | None = None, target_path: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None, threads: int | None = None,
        timeout: float | None = None, echo: bool = True) -> DbtResult:
    """Run ``dbt <args>`` on the project against the warehouse ``url`` (default :func:`shipshape.warehouse.connection`).

    ``as_of`` sets the moment the models judge the data at (:data:`AS_OF_ENV`; default: the var in
    dbt_project.yml); ``vars`` sets others (tolerances). ``target_path``/``log_path`` default to the project's own
    ``target/`` and ``logs/``; give each parallel run its own. dbt's output goes to this module's logger
    line by line (``echo``) and into the result. Never raises for a failed dbt run: see
    :meth:`DbtResult.raise_for_status`.
    """
    conn = connections.parse(warehouse.CONN_ID, url) if url else warehouse.connection()
    project = project_dir()
    target = Path(target_path).resolve() if target_path else project / "target"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != AS_OF_ENV}
    env.update(profile_env(conn), PGOPTIONS=session_options())
    env.update(
        DBT_TARGET_PATH=str(target),
        DBT_LOG_PATH=str(Path(log_path).resolve() if log_path else project / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",  # no internet is assumed; never phone home
        DBT_USE_COLORS="false",
    )
    if threads is not None:
        env[f"{ENV_PREFIX}THREADS"] = str(threads)
    if as_of is not None:
        env.update(as_of_env(as_of))
    secret = env[f"{ENV_PREFIX}PASSWORD"]
    cmd = command(args, vars=vars)
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)  # never read a previous run's results as this one's
    log.info("dbt %s against %s%s", " ".join(cmd[3:]), warehouse.mask_url(warehouse.url_of(conn)),
             f" as of {env[AS_OF_ENV]}" if AS_OF_ENV in env else "")
    lines: list[str] = []
    with subprocess.Popen(cmd, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                if secret:
                    line = line.replace(secret, "***")
                lines.append(line)
                if echo:
                    log.info("%s", line)
            returncode = proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            raise
    results: list[dict[str, Any]] = []
    if results_file.exists():
        results = json.loads(results_file.read_text()).get("results", [])
    return DbtResult(list(args), returncode, "\n".join(lines), target, results)


def build(select: str | Sequence[str] | None = None, **kwargs: Any) -> DbtResult:
    """``dbt build`` (seeds, models, tests) of ``select`` (all when None); see :func:`run`."""
    args = ["build"]
    if select:
        args += ["--select", *([select] if isinstance(select, str) else select)]
    return run(args, **kwargs)


# ------------------------------------------------------------------------------ manifest for Cosmos
# `shipshape_reconcile` renders its tasks from a dbt manifest (Cosmos LoadMode.DBT_MANIFEST), so that
# parsing the DAG never runs dbt. The manifest is committed, slimmed to what Cosmos reads, at
# dbt_project/manifest.json: a fresh clone parses the DAG without any build step. Regenerate it after
# changing models (`make manifest` or `python -m shipshape.dbt manifest`); a test fails when it is stale.

# what Cosmos's manifest loader reads of each node (cosmos.dbt.graph._build_dbt_node_from_manifest_resource)
_MANIFEST_NODE_KEYS = ("unique_id", "name", "resource_type", "package_name", "original_file_path",
                       "depends_on", "tags", "config", "fqn", "freshness", "alias", "schema",
                       "test_metadata", "column_name", "attached_node")
_MANIFEST_CONFIG_KEYS = ("materialized", "tags", "meta", "enabled", "severity")
# dbt needs no connection to parse, but its profile must render: any well-formed URL will do
_PARSE_URL = "postgresql://postgres@127.0.0.1:5432/shipshape"


def manifest_path() -> Path:
    """The committed, slimmed manifest Cosmos renders shipshape_reconcile from."""
    return project_dir() / "manifest.json"


def slim_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Only what Cosmos reads, with no absolute paths or timestamps (so it diffs cleanly)."""
    def node(n: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: n[k] for k in _MANIFEST_NODE_KEYS if k in n and n[k] is not None}
        if "config" in out:
            out["config"] = {k: v for k, v in out["config"].items() if k in _MANIFEST_CONFIG_KEYS}
        if "depends_on" in out:
            out["depends_on"] = {"nodes": sorted(out["depends_on"].get("nodes") or [])}
        return out

    return {
        "metadata": {"project_name": manifest.get("metadata", {}).get("project_name"),
                     "dbt_schema_version": manifest.get("metadata", {}).get("dbt_schema_version")},
        **{section: {uid: node(n) for uid, n in sorted((manifest.get(section) or {}).items())}
           for section in ("nodes", "sources", "exposures")},
    }


def parse_manifest(target_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``dbt parse`` (no warehouse connection) and the slimmed manifest it wrote."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="shipshape-dbt-parse-") as tmp:
        target = Path(target_path) if target_path else Path(tmp) / "target"
        run(["parse"], url=_PARSE_URL, target_path=target, log_path=Path(tmp) / "logs",
            echo=False).raise_for_status()
        return slim_manifest(json.loads((target / "manifest.json").read_text()))


def manifest_graph(manifest: Mapping[str, Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """What the rendered DAG depends on: every node's type and parents (a stale manifest differs here)."""
    return {uid: (n.get("resource_type", ""), tuple(n.get("depends_on", {}).get("nodes") or []))
            for section in ("nodes", "sources") for uid, n in (manifest.get(section) or {}).items()}


def render_manifest(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def write_manifest(path: str | os.PathLike[str] | None = None) -> Path:
    """Parse the project and write the slimmed manifest (default :func:`manifest_path`)."""
    out = Path(path) if path else manifest_path()
    out.write_text(render_manifest(parse_manifest()))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shipshape.dbt <dbt arguments>``: dbt on shipshape's project and warehouse.

    ``python -m shipshape.dbt manifest`` writes the manifest Cosmos renders shipshape_reconcile from.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m shipshape.dbt <dbt command and arguments>, e.g. build --select staging",
              file=sys.stderr)
        return 2
    if args == ["manifest"]:
        print(f"wrote {write_manifest()}")
        return 0
    return run(args).returncode


if __name__ == "__main__":
    raise SystemExit(main())
