"""A real Airflow deployment of shipshape's DAGs, supervised from Python: the harness the scheduler
tests and `make up` run on.

`AirflowDeployment` configures an Airflow home (LocalExecutor, a Postgres metadata database created
if missing, the project's `dags/` and `plugins/`, DAGs unpaused at creation, a small parallelism), runs
`airflow db migrate`, starts Airflow's processes (api-server, dag-processor, scheduler, triggerer),
each in its own process group with its own log file, notices one that dies, and stops them all
(SIGTERM to each group, a grace period, then SIGKILL) leaving nothing behind. Helpers wait for the
DAGs to be parsed, trigger a run through the REST API, and wait for runs to finish, reading
Airflow's metadata database directly.

Airflow 3 runs every task through the Execution API, which the api-server serves: without an
api-server the LocalExecutor's tasks cannot start, so it is one of the default processes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

from shipshape import warehouse

# the order processes start in; they stop in the reverse order (the scheduler before the api-server
# its running tasks still talk to)
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
TERMINAL_RUN_STATES = ("success", "failed")
SECRETS_FILE = "shipshape-secrets.json"


PRELOAD = '''"""Written by shipshape.airflow_runtime: Airflow imports this module in every process at start.
Importing here what shipshape's tasks import means a task forked by the LocalExecutor finds it loaded."""

import cosmos  # noqa: F401
import shipshape.ingest.catalog  # noqa: F401
import shipshape.reconcile.cosmos  # noqa: F401
'''


class AirflowProcessError(RuntimeError):
    """An Airflow process exited while it should have been running (or could not start)."""


class AirflowTimeout(TimeoutError):
    """A wait on the deployment ran out of time."""


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen
    log_file: IO[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def pgid(self) -> int:  # started with start_new_session: the leader's pid is the group's id
        return self.popen.pid


@dataclass
class DagRunResult:
    """One DAG run as the metadata database has it, with its task instances' states."""

    dag_id: str
    run_id: str
    run_type: str
    state: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    conf: dict[str, Any] | None
    tasks: dict[str, str | None]  # task_id (with `[map_index]` when mapped) -> state
    tries: dict[str, int] = field(default_factory=dict)  # task_id -> try_number

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    @property
    def wall_time(self) -> float | None:
        """Seconds from the run's start to its end (None until it has both)."""
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None

    def unsuccessful(self) -> dict[str, str | None]:
        return {task: state for task, state in self.tasks.items() if state != "success"}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for state in self.tasks.values():
            counts[str(state)] = counts.get(str(state), 0) + 1
        wall = "" if self.wall_time is None else f", {self.wall_time:.0f} s"
        return f"{self.dag_id} {self.run_id} ({self.run_type}): {self.state}{wall}; tasks {counts}"


def default_parallelism() -> int:
    """One task at a time per core, 2 to 8: shipshape's tasks (dbt in-process, mostly) are CPU-bound,
    and on a 2-core machine 8 at once made the reconcile run twice as slow as 2 or 4."""
    return max(2, min(8, os.cpu_count() or 2))


def sqlalchemy_url(url: str) -> str:
    """`postgresql://…` as a SQLAlchemy URL with an installed driver (psycopg2, else psycopg 3)."""
    parts = urlsplit(url)
    try:
        import psycopg2  # noqa: F401

        driver = "postgresql+psycopg2"
    except ImportError:
        driver = "postgresql+psycopg"
    return urlunsplit(parts._replace(scheme=driver))


def ensure_database(url: str) -> bool:
    """Create the database `url` names on its server when it does not exist; True if it was created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError(f"no database in {warehouse.mask_url(url)}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return True


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 200_000))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _readable_task_log(text: str) -> str:
    """Airflow 3 task logs are JSON lines: show them as `time level event` (+ the error's detail)."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(record, dict):
            out.append(line)
            continue
        out.append(f"{record.get('timestamp', '')} {record.get('level', '')} {record.get('event', '')}".strip())
        for detail in record.get("error_detail") or []:
            if isinstance(detail, dict):
                out.append(f"    {detail.get('exc_type')}: {detail.get('exc_value')}")
                for frame in (detail.get("frames") or [])[-4:]:
                    out.append(f"      {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
    return "\n".join(out)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def processes_of(home: Path | str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process of this user that belongs to the Airflow home `home`:
    its command line mentions the home, or it runs with `AIRFLOW_HOME=<home>` (forked workers rename
    themselves, but keep the environment they started with)."""
    home = str(home)
    marker = f"AIRFLOW_HOME={home}".encode() + b"\0"
    found = []
    uid = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rfind(")") + 2:].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            try:
                environ = (entry / "environ").read_bytes() + b"\0"
            except OSError:
                environ = b""
        except (OSError, ValueError, IndexError):
            continue
        if home in cmdline or marker in environ:
            found.append((int(entry.name), cmdline))
    return found


def _secrets(home: Path) -> dict[str, str]:
    """The deployment's keys (Fernet, JWT, API session), made once and kept in the home (mode 0600):
    every process must share them, and a restarted deployment must keep them."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_urlsafe(48),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def _dt(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError(f"{value} has no time zone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_until_stopped(check: Callable[[], None], poll: float = 2.0) -> None:
    """Call `check` every `poll` seconds until Ctrl-C or SIGTERM (then return); whatever `check` raises
    (a process that died) propagates. Call it from the main thread: it handles SIGTERM."""
    def _terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        while True:
            check()
            time.sleep(poll)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)


class AirflowDeployment:
    """Airflow's processes for shipshape's DAGs, in `home`, with metadata in the Postgres database
    `metadata_url` (`postgresql://…`; created when missing).

    `parallelism` is how many tasks run at once (the LocalExecutor's workers; `default_parallelism()`
    when None). `env` (connections as `AIRFLOW_CONN_*`, `SHIPSHAPE_*` settings, …) is added to every process's
    environment on top of this process's own, after the deployment's settings; `settings` are extra
    or overriding Airflow settings (`{"AIRFLOW__SECTION__KEY": "value"}`). The api-server listens on
    `api_host:api_port` (a free port when `api_port` is None); with `all_admins` (the default, for a
    deployment on loopback) the UI and REST API need no login; without it, `credentials` (user,
    password of the Simple auth manager) are what `trigger()` and `pause()` log in with.

    Use it as a context manager (stops everything on exit), or call `migrate()`, `start()`, `stop()`.
    """

    def __init__(
        self,
        home: Path | str,
        metadata_url: str,
        *,
        dags_folder: Path | str | None = None,
        plugins_folder: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        parallelism: int | None = None,
        api_host: str = "127.0.0.1",
        api_port: int | None = None,
        api_workers: int = 1,
        all_admins: bool = True,
        settings: Mapping[str, str] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.metadata_url = metadata_url
        self.dags_folder = Path(dags_folder or warehouse.project_root() / "dags").resolve()
        # the shipshape plugin (console and Data Docs in the UI, the reconcile tasks' links)
        self.plugins_folder = Path(plugins_folder or warehouse.project_root() / "plugins").resolve()
        self.extra_env = dict(env or {})
        self.parallelism = parallelism or default_parallelism()
        self.api_host = api_host
        self.api_port = api_port or free_port(api_host)
        self.api_workers = api_workers
        self.all_admins = all_admins
        self.settings = dict(settings or {})
        self.credentials = credentials
        self._token: str | None = None
        self.process_log_dir = self.home / "processes"
        self.processes: dict[str, ManagedProcess] = {}
        self._stopping = False

    # ------------------------------------------------------------------------------- configuration
    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def task_log_dir(self) -> Path:
        return self.home / "logs"

    def airflow_settings(self) -> dict[str, str]:
        """The AIRFLOW__* settings (and AIRFLOW_HOME) every process of the deployment runs with."""
        keys = _secrets(self.home)
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # LocalExecutor starts `parallelism` worker processes, each running one task at a time
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.all_admins),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(self.metadata_url),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": self.api_host,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": str(self.api_workers),
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            # one parser is plenty for two DAG files, and re-parsing every 30 s competes with the tasks
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.task_log_dir),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **self.settings,
        }

    def environment(self) -> dict[str, str]:
        """The whole environment of the deployment's processes (and of `airflow` commands run on it)."""
        return {**os.environ, **self.airflow_settings(), **self.extra_env}

    def airflow_command(self, *args: str) -> list[str]:
        script = Path(sys.executable).parent / "airflow"
        return [str(script), *args] if script.exists() else [sys.executable, "-m", "airflow", *args]

    def run_cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`airflow <args>` against this deployment; raises with its output when it fails."""
        result = subprocess.run(self.airflow_command(*args), env=self.environment(), cwd=self.home,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AirflowProcessError(f"`airflow {' '.join(args)}` failed ({result.returncode}):\n"
                                      f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def migrate(self, timeout: float = 600) -> float:
        """Create the metadata database if missing and bring its schema up to date; returns seconds taken."""
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.process_log_dir.mkdir(exist_ok=True)
        ensure_database(self.metadata_url)
        self.write_local_settings()
        self.run_cli("db", "migrate", timeout=timeout)
        return time.monotonic() - started

    def write_local_settings(self) -> Path:
        """`config/airflow_local_settings.py` in the home, which every Airflow process imports at start:
        it imports what shipshape's tasks need (Cosmos, the reconcile wiring). The LocalExecutor forks each
        task from a worker the scheduler forked, so a task then finds them imported instead of paying the
        imports again, 121 times per reconcile run."""
        path = self.home / "config" / "airflow_local_settings.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PRELOAD)
        return path

    # ---------------------------------------------------------------------------------- processes
    def _argv(self, name: str) -> list[str]:
        if name == "api-server":
            return self.airflow_command("api-server", "--host", self.api_host, "--port", str(self.api_port),
                                        "--workers", str(self.api_workers))
        if name in ("scheduler", "triggerer"):
            # task logs are files in the home, read by the api-server directly: no log-serving ports that
            # would clash between two deployments on one machine
            return self.airflow_command(name, "--skip-serve-logs")
        if name == "dag-processor":
            return self.airflow_command("dag-processor")
        raise ValueError(f"unknown Airflow process {name!r}; known: {', '.join(COMPONENTS)}")

    def start(self, components: Iterable[str] = COMPONENTS, *, timeout: float = 120) -> None:
        """Start the named processes (those not already running), in `COMPONENTS` order; waits for the
        api-server to answer. Raises `AirflowProcessError` if one exits meanwhile."""
        wanted = list(components)
        unknown = set(wanted) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown Airflow process(es) {sorted(unknown)}; known: {', '.join(COMPONENTS)}")
        self.process_log_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        env = self.environment()
        for name in sorted(wanted, key=COMPONENTS.index):
            if name in self.processes:
                if self.processes[name].popen.poll() is None:
                    continue
                self.processes[name].log_file.close()  # it died: start it again, on the same log
            argv = self._argv(name)
            log_path = self.process_log_dir / f"{name}.log"
            log_file = log_path.open("ab")
            log_file.write(f"\n===== {datetime.now(UTC).isoformat()} starting: {' '.join(argv)}\n".encode())
            log_file.flush()
            popen = subprocess.Popen(argv, env=env, cwd=self.home, stdin=subprocess.DEVNULL, stdout=log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            self.processes[name] = ManagedProcess(name, argv, log_path, popen, log_file)
        if "api-server" in wanted:
            self.wait_for_api(timeout=timeout)
        self.check()

    def check(self) -> None:
        """Raise `AirflowProcessError` naming any started process that has exited, with its log's tail."""
        if self._stopping:
            return
        for proc in self.processes.values():
            code = proc.popen.poll()
            if code is not None:
                raise AirflowProcessError(
                    f"airflow {proc.name} (pid {proc.pid}) exited with {code} after "
                    f"{time.monotonic() - proc.started_at:.0f} s; its log: {proc.log_path}\n"
                    f"--- last lines of {proc.log_path} ---\n{_tail(proc.log_path, 40)}")

    def wait_for_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | str = "no answer"
        while time.monotonic() < deadline:
            self.check()
            try:
                response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(1)
        raise AirflowTimeout(f"the api-server did not answer on {self.api_url} within {timeout:.0f} s ({last});"
                             f" its log: {self.process_log_dir / 'api-server.log'}")

    def stop(self, grace: float = 30) -> list[str]:
        """Stop every process: SIGTERM to each process group (scheduler first, api-server last), up to
        `grace` seconds for them to exit, then SIGKILL to every group with anything left in it (the
        LocalExecutor's workers do not always follow their parent out). Returns what had to be killed."""
        self._stopping = True
        killed: list[str] = []
        order = sorted(self.processes.values(), key=lambda p: COMPONENTS.index(p.name), reverse=True)
        for proc in order:  # the api-server last: tasks still running report their end through it
            if proc.name == "api-server":
                continue
            self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in order:
            if proc.name == "api-server":
                continue
            self._wait_group(proc, deadline)
        for proc in order:
            if proc.name == "api-server":
                self._signal_group(proc, signal.SIGTERM)
                self._wait_group(proc, time.monotonic() + min(grace, 15))
        for proc in order:
            if _group_members(proc.pgid) or proc.popen.poll() is None:
                killed.append(f"{proc.name} (group {proc.pgid}: {_group_members(proc.pgid)})")
                self._signal_group(proc, signal.SIGKILL)
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                killed.append(f"{proc.name} (pid {proc.pid}) would not die")
            self._wait_group(proc, time.monotonic() + 10)
            proc.log_file.write(f"===== {datetime.now(UTC).isoformat()} stopped (exit {proc.popen.returncode})\n"
                                .encode())
            proc.log_file.close()
        self.processes.clear()
        return killed

    @staticmethod
    def _signal_group(proc: ManagedProcess, sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pgid, sig)
        except ProcessLookupError:
            pass

    @staticmethod
    def _wait_group(proc: ManagedProcess, deadline: float) -> None:
        while time.monotonic() < deadline:
            proc.popen.poll()  # reap the leader
            if proc.popen.returncode is not None and not _group_members(proc.pgid):
                return
            time.sleep(0.2)

    def leftover_processes(self) -> list[tuple[int, str]]:
        """Processes still alive that belong to this deployment (see `processes_of`)."""
        return processes_of(self.home)

    def supervise(self, poll: float = 2.0) -> None:
        """Block while every process runs; return on Ctrl-C or SIGTERM, raise `AirflowProcessError` when
        one dies. Stops nothing itself: call `stop()` (or use the deployment as a context manager). Call
        it from the main thread (it handles SIGTERM). The processes run in sessions of their own, so a
        Ctrl-C in the terminal reaches only this process, and `stop()` then decides the order."""
        run_until_stopped(self.check, poll)

    def __enter__(self) -> AirflowDeployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------- metadata reads
    def _query(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        with psycopg.connect(self.metadata_url, connect_timeout=10) as conn:
            return conn.execute(query, params).fetchall()

    def import_errors(self) -> dict[str, str]:
        """filename -> stack trace of every DAG file the dag-processor could not import."""
        return dict(self._query("select filename, stacktrace from import_error"))

    def parsed_dags(self) -> dict[str, bool]:
        """dag_id -> is_paused of every DAG the dag-processor has serialized (and not marked stale)."""
        return dict(self._query(
            "select d.dag_id, d.is_paused from dag d where not d.is_stale"
            " and exists (select 1 from serialized_dag s where s.dag_id = d.dag_id)"))

    def wait_until_parsed(self, dag_ids: Iterable[str], timeout: float = 180, poll: float = 2) -> float:
        """Wait until every DAG in `dag_ids` is parsed and serialized; raise at once on an import
        error. Returns the seconds waited."""
        wanted = set(dag_ids)
        started = time.monotonic()
        while True:
            self.check()
            errors = self.import_errors()
            if errors:
                detail = "\n".join(f"--- {name}\n{trace}" for name, trace in errors.items())
                raise AirflowProcessError(f"DAG import errors:\n{detail}")
            missing = wanted - set(self.parsed_dags())
            if not missing:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AirflowTimeout(f"DAGs not parsed within {timeout:.0f} s: {sorted(missing)}\n"
                                     + self.diagnostics())
            time.sleep(poll)

    def runs(self, dag_id: str) -> list[DagRunResult]:
        """Every run of `dag_id`, oldest first, with its task instances' states."""
        rows = self._query(
            "select dag_id, run_id, run_type, state, logical_date, data_interval_start, data_interval_end,"
            " run_after, start_date, end_date, conf from dag_run where dag_id = %s order by id", (dag_id,))
        tis: dict[str, dict[str, tuple[str | None, int]]] = {}
        for run_id, task_id, map_index, state, try_number in self._query(
                "select run_id, task_id, map_index, state, try_number from task_instance where dag_id = %s",
                (dag_id,)):
            key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            tis.setdefault(run_id, {})[key] = (state, try_number)
        results = []
        for row in rows:
            conf = row[10]
            if isinstance(conf, (bytes, str)):
                try:
                    conf = json.loads(conf)
                except ValueError:
                    conf = None
            states = tis.get(row[1], {})
            results.append(DagRunResult(*row[:10], conf=conf if isinstance(conf, dict) else None,
                                        tasks={k: v[0] for k, v in sorted(states.items())},
                                        tries={k: v[1] for k, v in sorted(states.items())}))
        return results

    def wait_for_run(
        self,
        dag_id: str,
        *,
        run_id: str | None = None,
        run_type: str | None = None,
        where: Callable[[DagRunResult], bool] | None = None,
        timeout: float = 600,
        poll: float = 3,
        progress: Callable[[DagRunResult], None] | None = None,
    ) -> DagRunResult:
        """Wait for the first run of `dag_id` matching `run_id`, `run_type` and `where` to appear and reach
        a terminal state (success or failed); returns it, whatever the state. Raises `AirflowTimeout`
        (with the processes' log tails) after `timeout` seconds, `AirflowProcessError` if a process dies."""
        started = time.monotonic()
        seen: DagRunResult | None = None
        last_report = ""
        while True:
            self.check()
            for run in self.runs(dag_id):
                if run_id is not None and run.run_id != run_id:
                    continue
                if run_type is not None and run.run_type != run_type:
                    continue
                if where is not None and not where(run):
                    continue
                seen = run
                break
            if seen is not None:
                if progress is not None and seen.summary() != last_report:
                    last_report = seen.summary()
                    progress(seen)
                if seen.finished:
                    return seen
            if time.monotonic() - started > timeout:
                what = f"run {run_id or ''} of {dag_id}" + (f" ({run_type})" if run_type else "")
                status = seen.summary() if seen else "no such run yet"
                raise AirflowTimeout(f"{what} did not finish within {timeout:.0f} s: {status}\n"
                                     + self.diagnostics([seen] if seen else []))
            time.sleep(poll)
            seen = None

    def worker_hosts(self, dag_id: str, run_id: str) -> dict[str, str]:
        """The tasks of a run that a worker process ran, with its host (a task the triggerer ended, or
        one that never ran, has none)."""
        return dict(self._query("select task_id, hostname from task_instance where dag_id = %s and run_id = %s"
                                " and pid is not null", (dag_id, run_id)))

    def triggering_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The Asset events that triggered an asset-triggered run: asset name and uri, and the DAG run
        and task that emitted each."""
        rows = self._query(
            "select a.name, a.uri, e.source_dag_id, e.source_run_id, e.source_task_id, e.timestamp"
            " from dag_run r join dagrun_asset_event x on x.dag_run_id = r.id"
            " join asset_event e on e.id = x.event_id join asset a on a.id = e.asset_id"
            " where r.dag_id = %s and r.run_id = %s order by a.name", (dag_id, run_id))
        keys = ("asset", "uri", "source_dag_id", "source_run_id", "source_task_id", "timestamp")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # ----------------------------------------------------------------------------------- REST API
    def _auth_headers(self, renew: bool = False) -> dict[str, str]:
        """No header with `all_admins`; else a bearer token from the Simple auth manager's
        `POST /auth/token` for `credentials` (kept until it is refused)."""
        if self.all_admins or self.credentials is None:
            return {}
        if self._token is None or renew:
            username, password = self.credentials
            response = httpx.post(f"{self.api_url}/auth/token", json={"username": username, "password": password},
                                  timeout=30)
            if response.status_code >= 400:
                raise AirflowProcessError(f"logging in to {self.api_url} as {username!r}: HTTP "
                                          f"{response.status_code}: {response.text[:500]}")
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        self.check()
        url = f"{self.api_url}/api/v2{path}"
        response = httpx.request(method, url, headers=self._auth_headers(), timeout=60, **kwargs)
        if response.status_code == 401 and self._token is not None:  # expired: log in again, once
            response = httpx.request(method, url, headers=self._auth_headers(renew=True), timeout=60, **kwargs)
        if response.status_code >= 400:
            raise AirflowProcessError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def trigger(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        data_interval: tuple[datetime, datetime] | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Trigger a run of `dag_id` through the REST API (`POST /api/v2/dags/{dag_id}/dagRuns`); returns
        its run id. Needs the api-server.

        The data interval is `data_interval` when given, else the timetable's inferred interval for
        `logical_date` (for an hourly `CronDataIntervalTimetable`, the hour ending at `logical_date`,
        or at the hour before it when it falls between hours). Not the CLI on purpose: in Airflow 3.3
        `airflow dags trigger --logical-date D` infers the data interval from the moment of triggering,
        not from D. A run with the logical date and interval of a scheduled slot takes that slot: the
        scheduler skips creating the scheduled run whose logical date already has a run."""
        body: dict[str, Any] = {"logical_date": _dt(logical_date), "conf": dict(conf or {})}
        if data_interval is not None:
            body["data_interval_start"], body["data_interval_end"] = map(_dt, data_interval)
        if run_id is not None:
            body["dag_run_id"] = run_id
        return self._api("POST", f"/dags/{quote(dag_id, safe='')}/dagRuns", json=body)["dag_run_id"]

    def pause(self, dag_id: str, paused: bool = True) -> None:
        """Pause (or unpause) a DAG: the scheduler creates no new runs of a paused DAG."""
        self._api("PATCH", f"/dags/{quote(dag_id, safe='')}", json={"is_paused": paused})

    # -------------------------------------------------------------------------------- diagnostics
    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The log files of a task instance, one per attempt (mapped instances included)."""
        base = self.task_log_dir / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(base.rglob("attempt=*.log"), key=lambda p: (len(str(p)), str(p)))

    def diagnostics(self, runs: Iterable[DagRunResult] = (), process_lines: int = 30, task_lines: int = 60,
                    max_tasks: int = 3) -> str:
        """The tails of every process's log and, for each given run, of its failed tasks' last attempts."""
        parts = [f"Airflow home: {self.home}"]
        for path in sorted(self.process_log_dir.glob("*.log")):
            parts.append(f"--- last {process_lines} lines of {path} ---\n{_tail(path, process_lines)}")
        for run in runs:
            if run is None:
                continue
            parts.append(run.summary())
            failed = [t for t, s in run.tasks.items() if s in ("failed", "up_for_retry", "upstream_failed")]
            shown = [t for t in failed if run.tasks[t] != "upstream_failed"][:max_tasks]
            if failed:
                parts.append(f"unsuccessful tasks: { {t: run.tasks[t] for t in failed} }")
            for task in shown:
                logs = self.task_logs(run.dag_id, run.run_id, task.split("[")[0])
                if not logs:
                    parts.append(f"--- {task}: no log file under {self.task_log_dir}")
                    continue
                text = _readable_task_log(_tail(logs[-1], 400))
                parts.append(f"--- last {task_lines} lines of {logs[-1]} ---\n"
                             + "\n".join(text.splitlines()[-task_lines:]))
        return "\n".join(parts)
