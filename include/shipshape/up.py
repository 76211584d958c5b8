"""`shipshape up` / `make up`: shipshape as its users run it, in the foreground, stopped by Ctrl-C or by
`shipshape down` / `make down` from another shell.

It starts, in order, and stops in reverse:

1. **the warehouse**: the `shipshape_warehouse` connection when set, else the embedded PostgreSQL
   (started here, and stopped again on the way out if it was not already running);
2. **a live sandbox** (unless every API connection is configured): `shipshape sandbox serve --live` as a
   child process (the command the sandbox package adds to the CLI; this module does not import it),
   which writes the API connections to `.data/sandbox/connections.json`; its world's history ends now
   and its clock follows the wall clock, kept in `.data/sandbox/world.pickle`
   between runs; `--speed` compresses its activity, and the ingest schedule follows (every minute at
   `--speed 60`) unless `SHIPSHAPE_INGEST_SCHEDULE` says otherwise;
3. **the mismatch console** (`shipshape.console`), reading the warehouse as its read-only role, on
   127.0.0.1:`SHIPSHAPE_CONSOLE_PORT` (8501); its URL goes to every Airflow process as
   `SHIPSHAPE_CONSOLE_URL` (the Airflow plugin links to it) and to `.data/up.json` as `console_url`;
4. **Airflow 3** as a real deployment (`shipshape.airflow_runtime`): api-server, dag-processor,
   scheduler and triggerer, LocalExecutor, a Postgres metadata database (`airflow` on the embedded
   server, or `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`), its home in `.data/airflow`, no example DAGs,
   both shipshape DAGs unpaused, and an admin login whose password is kept in the home.

What a person or a script needs is printed and written to `.data/up.json`. Ports are settings
(`SHIPSHAPE_AIRFLOW_PORT`, `SHIPSHAPE_SANDBOX_PORT`, `SHIPSHAPE_CONSOLE_PORT`, `SHIPSHAPE_WAREHOUSE_PORT`); a port in use, a
warehouse that does not answer, or a process that dies stops everything with a message naming the port,
the process and its log file.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shipshape import warehouse
from shipshape.console import settings as console_settings

log = logging.getLogger(__name__)

AIRFLOW_PORT_ENV = "SHIPSHAPE_AIRFLOW_PORT"
SANDBOX_PORT_ENV = "SHIPSHAPE_SANDBOX_PORT"
CONSOLE_PORT_ENV = console_settings.PORT_ENV
METADATA_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
API_CONNECTIONS = ("shopify_default", "stripe_default", "paypal_default", "shiphero_default", "tracking_default")
DAG_IDS = ("shipshape_ingest", "shipshape_reconcile")
ADMIN = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


class UpError(RuntimeError):
    """`shipshape up` cannot go on; the message says what and where to look."""


def data_root() -> Path:
    """`.data` in the project, or `$SHIPSHAPE_DATA_DIR`."""
    base = os.environ.get(warehouse.DATA_DIR_ENV)
    return (Path(base).expanduser() if base else warehouse.project_root() / ".data").resolve()


def _default_parallelism() -> int:
    from shipshape.airflow_runtime import default_parallelism

    return default_parallelism()


def _port(env: str, default: int) -> int:
    value = os.environ.get(env)
    try:
        return int(value) if value else default
    except ValueError:
        raise UpError(f"{env}={value!r} is not a port number") from None


@dataclass
class UpSettings:
    """What `shipshape up` runs; every field has a setting or a flag."""

    data_dir: Path = field(default_factory=data_root)
    airflow_port: int = field(default_factory=lambda: _port(AIRFLOW_PORT_ENV, 8080))
    sandbox_port: int = field(default_factory=lambda: _port(SANDBOX_PORT_ENV, 8765))
    console_port: int = field(default_factory=lambda: _port(CONSOLE_PORT_ENV, console_settings.DEFAULT_PORT))
    orders: int = 2000
    seed: int = 7
    speed: float = 1.0
    rate_limits: str = "off"
    parallelism: int = field(default_factory=lambda: _default_parallelism())
    host: str = "127.0.0.1"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "up.json"


def ingest_schedule_for(speed: float) -> str:
    """The ingest cron that matches a live sandbox's speed: an hour of store activity per run (every
    60/speed minutes, at least every minute, at most hourly)."""
    minutes = 60 / speed
    if minutes >= 60:
        return "0 * * * *"
    if minutes <= 1:
        return "* * * * *"
    step = max(1, round(minutes))
    while 60 % step:  # a step that divides the hour keeps the intervals even
        step -= 1
    return f"*/{step} * * * *"


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def admin_password(home: Path) -> str:
    """The admin's password, made once and kept in the Airflow home (mode 0600) where Airflow's simple
    auth manager reads it."""
    path = home / PASSWORDS_FILE
    if path.exists():
        try:
            return json.loads(path.read_text())[ADMIN]
        except (ValueError, KeyError):
            pass
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({ADMIN: password}, f)
    return password


class Sandbox:
    """The live sandbox as a child process (its own process group, its own log)."""

    def __init__(self, settings: UpSettings) -> None:
        self.settings = settings
        self.log_path = settings.data_dir / "sandbox" / "sandbox.log"
        self.popen: subprocess.Popen | None = None
        self.url = f"http://{settings.host}:{settings.sandbox_port}"
        self.connections_path = settings.data_dir / "sandbox" / "connections.json"

    def start(self, timeout: float = 180) -> None:
        from shipshape import commands

        if not commands.available("sandbox"):
            raise UpError("no sandbox to run the API connections against: configure all five "
                          f"({', '.join(API_CONNECTIONS)}) or install the sandbox; {commands.SANDBOX_INSTALL}")
        s = self.settings
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.connections_path.unlink(missing_ok=True)  # the child writes it before it answers /health
        argv = [sys.executable, "-m", "shipshape.cli", "sandbox", "serve", "--live", "--speed", f"{s.speed:g}",
                "--orders", str(s.orders), "--seed", str(s.seed), "--rate-limits", s.rate_limits,
                "--host", s.host, "--port", str(s.sandbox_port),
                "--state", str(s.data_dir / "sandbox" / "world.pickle"),
                "--connections-file", str(self.connections_path)]
        log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise UpError(f"the sandbox did not answer on {self.url} within {timeout:.0f} s; its log: {self.log_path}")

    def connection_env(self) -> dict[str, str]:
        """The AIRFLOW_CONN_* variables for the API connections the sandbox wrote (Airflow's
        LocalFilesystemBackend form: conn_id -> fields)."""
        from shipshape.connections import env_var

        connections = json.loads(self.connections_path.read_text())
        return {env_var(conn_id): json.dumps(fields, separators=(",", ":"))
                for conn_id, fields in connections.items()}

    def check(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise UpError(f"the sandbox (pid {self.popen.pid}) exited with {self.popen.returncode}; "
                          f"its log: {self.log_path}")

    def stop(self, grace: float = 20) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)  # the sandbox saves its world on the way out
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


class Stack:
    """Everything `shipshape up` runs. `start()`, then `supervise()` (returns on Ctrl-C or SIGTERM), then
    `stop()`; or use it as a context manager around `start()`."""

    def __init__(self, settings: UpSettings | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings or UpSettings()
        self.env = dict(os.environ if env is None else env)
        self.sandbox: Sandbox | None = None
        self.console = None  # shipshape.console.server.ConsoleProcess
        self.airflow = None  # shipshape.airflow_runtime.AirflowDeployment
        self.started_warehouse = False
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------- start
    def start(self) -> dict[str, Any]:
        from shipshape.airflow_runtime import AirflowDeployment

        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_ports()
        warehouse_url, metadata_url = self._warehouse()
        connections = {"AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE": warehouse_url}
        sandbox_url = None
        if self._real_connections():
            log.info("every API connection is configured: no sandbox")
        else:
            self.sandbox = Sandbox(s)
            log.info("starting a live sandbox of %d orders (seed %d, %gx activity) on %s; log %s", s.orders, s.seed,
                     s.speed, self.sandbox.url, self.sandbox.log_path)
            self.sandbox.start()
            sandbox_url = self.sandbox.url
            connections.update(self.sandbox.connection_env())
        self.console = self._console()
        log.info("starting the mismatch console on %s; log %s", self.console.url, self.console.log_path)
        self.console.start(warehouse_url, self.env)
        settings = {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(s.airflow_home / PASSWORDS_FILE),
        }
        env = {
            # the deployment's own shipshape settings and connections (SHIPSHAPE_APPLY_CORRECTIONS, …)
            **{k: v for k, v in self.env.items() if k.startswith(("SHIPSHAPE_", "AIRFLOW_CONN_"))},
            **connections,
            "SHIPSHAPE_INGEST_SCHEDULE": self.env.get("SHIPSHAPE_INGEST_SCHEDULE") or ingest_schedule_for(s.speed),
            "SHIPSHAPE_DATA_DIR": str(s.data_dir),
            "SHIPSHAPE_DATA_DOCS_DIR": self.env.get("SHIPSHAPE_DATA_DOCS_DIR") or str(s.data_dir / "data_docs"),
            "DBT_QUIET": self.env.get("DBT_QUIET", "true"),
            # the contract with the Airflow plugin: where a browser finds the console, for its links (a
            # SHIPSHAPE_CONSOLE_URL already set wins: the console behind a proxy at another address)
            console_settings.URL_ENV: self.env.get(console_settings.URL_ENV) or self.console.url,
        }
        password = admin_password(s.airflow_home)
        self.airflow = AirflowDeployment(s.airflow_home, metadata_url, env=env, parallelism=s.parallelism,
                                         api_host=s.host, api_port=s.airflow_port, all_admins=False,
                                         settings=settings, credentials=(ADMIN, password))
        log.info("Airflow: migrating its metadata database (%s)", warehouse.mask_url(metadata_url))
        self.airflow.migrate()
        log.info("Airflow: starting api-server, dag-processor, scheduler and triggerer; logs in %s",
                 self.airflow.process_log_dir)
        self.airflow.start()
        self.airflow.wait_until_parsed(DAG_IDS)
        for dag_id in DAG_IDS:
            self.airflow.pause(dag_id, False)
        self.info = {
            "airflow_url": self.airflow.api_url,
            "airflow_username": ADMIN,
            "airflow_password": password,
            "sandbox_url": sandbox_url,
            "warehouse_url": warehouse.mask_url(warehouse_url),
            "console_url": self.console.url,
            "webhooks_url": None,
            "ingest_schedule": env["SHIPSHAPE_INGEST_SCHEDULE"],
            "airflow_home": str(s.airflow_home),
            "pid": os.getpid(),
            "sandbox_pid": None if self.sandbox is None or self.sandbox.popen is None else self.sandbox.popen.pid,
            "console_pid": None if self.console.popen is None else self.console.popen.pid,
            "started_warehouse": self.started_warehouse,
        }
        tmp = s.state_file.with_suffix(".json.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the admin password
        with os.fdopen(fd, "w") as f:
            json.dump(self.info, f, indent=2)
        os.replace(tmp, s.state_file)
        return self.info

    def _console(self):
        """The console's process, on `shipshape up`'s host unless SHIPSHAPE_CONSOLE_ADDRESS says otherwise
        (which then needs SHIPSHAPE_CONSOLE_PASSWORD: the console refuses to listen beyond loopback without)."""
        from dataclasses import replace

        from shipshape.console.server import ConsoleProcess

        configured = console_settings.ConsoleSettings.from_env(self.env)
        chosen = replace(configured, port=self.settings.console_port,
                         address=self.env.get(console_settings.ADDRESS_ENV) or self.settings.host)
        try:
            chosen.check()
        except console_settings.ConsoleError as exc:
            raise UpError(str(exc)) from None
        return ConsoleProcess(chosen, self.settings.data_dir / "console" / "console.log")

    def _check_ports(self) -> None:
        s = self.settings
        busy = [(env, port) for env, port in ((AIRFLOW_PORT_ENV, s.airflow_port), (SANDBOX_PORT_ENV, s.sandbox_port),
                                              (CONSOLE_PORT_ENV, s.console_port))
                if not port_free(s.host, port)]
        if busy:
            raise UpError("; ".join(f"port {port} on {s.host} is in use (set {env} to another port, or stop "
                                    "what holds it: is another `make up` running? `make down` stops it)"
                                    for env, port in busy))

    def _warehouse(self) -> tuple[str, str]:
        """(warehouse URL, Airflow metadata URL), the embedded server started when either needs it."""
        configured = warehouse.resolve_url(self.env)
        metadata = self.env.get(METADATA_ENV)
        embedded = None
        if configured is None or not metadata:
            pgdata = warehouse.embedded_data_dir(self.settings.data_dir / "warehouse")
            was_running = warehouse.embedded_running(pgdata)
            embedded = warehouse.start_embedded(pgdata)
            self.started_warehouse = not was_running
        url = configured or embedded
        assert url is not None
        try:
            warehouse.bootstrap(url)
        except Exception as exc:  # noqa: BLE001 - say which warehouse, without its password
            raise UpError(f"the warehouse at {warehouse.mask_url(url)} does not answer: {exc}") from exc
        if metadata:
            return url, _psycopg_url(metadata)
        return url, with_database(embedded, "airflow")

    def _real_connections(self) -> bool:
        given = [c for c in API_CONNECTIONS if self.env.get(f"AIRFLOW_CONN_{c.upper()}")]
        if given and len(given) < len(API_CONNECTIONS):
            missing = sorted(set(API_CONNECTIONS) - set(given))
            raise UpError(f"some API connections are set and some are not ({', '.join(missing)} missing): set all "
                          "five to run against the real services, or none for the sandbox")
        return bool(given)

    # ---------------------------------------------------------------------------------- running
    def check(self) -> None:
        if self.sandbox is not None:
            self.sandbox.check()
        if self.console is not None:
            self.console.check()
        if self.airflow is not None:
            self.airflow.check()

    def supervise(self, poll: float = 2.0) -> None:
        """Block until Ctrl-C or SIGTERM; raise when a process dies."""
        from shipshape.airflow_runtime import run_until_stopped

        run_until_stopped(self.check, poll)

    def stop(self) -> list[str]:
        """Stop everything this stack started, in reverse order; returns what had to be killed."""
        killed: list[str] = []
        if self.airflow is not None:
            killed += self.airflow.stop()
            killed += [f"leftover pid {pid}: {cmd}" for pid, cmd in _kill(self.airflow.leftover_processes())]
        if self.console is not None:
            self.console.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.started_warehouse:
            log.info("%s", warehouse.stop_embedded(self.settings.data_dir / "warehouse"))
        self.settings.state_file.unlink(missing_ok=True)
        return killed

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _psycopg_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg2://…` (Airflow's form) as a plain `postgresql://…` URL."""
    parts = urlsplit(sqlalchemy_url)
    if not parts.scheme.startswith("postgres"):
        raise UpError(f"{METADATA_ENV} must point at PostgreSQL, not {parts.scheme}: SQLite locks under a "
                      "running reconcile")
    return urlunsplit(parts._replace(scheme="postgresql"))


def _kill(processes: list[tuple[int, str]]) -> list[tuple[int, str]]:
    for pid, _ in processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return processes


def describe(info: Mapping[str, Any]) -> str:
    lines = [
        f"Airflow UI   {info['airflow_url']}   (user {info['airflow_username']}, password {info['airflow_password']})",
        f"sandbox      {info['sandbox_url'] or 'none: the real APIs'}",
        f"console      {info['console_url']}   (the mismatch console; read-only)",
        f"warehouse    {info['warehouse_url']}",
        f"ingest runs  on the cron {info['ingest_schedule']!r}; reconcile follows on its Assets",
        "Ctrl-C (or `make down` from another shell) stops everything; `make up` again resumes it.",
    ]
    return "\n".join(lines)


def up(settings: UpSettings | None = None) -> int:
    """`shipshape up`: start, print, supervise, stop."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per health poll otherwise
    stack = Stack(settings)
    started = time.monotonic()
    try:
        info = stack.start()
        print(f"\nshipshape is up ({time.monotonic() - started:.0f} s); .data/up.json has these too:\n"
              f"{describe(info)}\n", flush=True)
        stack.supervise()
        print("stopping…", flush=True)
        return 0
    except UpError as exc:
        print(f"shipshape up: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an Airflow process died: say which, then stop the rest
        print(f"shipshape up: {exc}", file=sys.stderr)
        return 1
    finally:
        killed = stack.stop()
        if killed:
            print(f"had to kill: {killed}", file=sys.stderr)


def down(settings: UpSettings | None = None, timeout: float = 120) -> int:
    """`shipshape down`: stop what a `shipshape up` of this project started, from another shell."""
    from shipshape.airflow_runtime import processes_of

    settings = settings or UpSettings()
    if not settings.state_file.exists():
        leftovers = processes_of(settings.airflow_home)
        if not leftovers:
            print("shipshape is not up (no .data/up.json, no Airflow process of this project)")
            return 0
        print(f"no .data/up.json, but {len(leftovers)} Airflow processes of this project: killing them")
        _kill(leftovers)
        return 0
    info = json.loads(settings.state_file.read_text())
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGTERM)  # `up` stops everything in order, as on Ctrl-C
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.5)
    left = processes_of(info["airflow_home"])
    if _alive(pid) or left:
        print(f"shipshape up (pid {pid}) did not stop within {timeout:.0f} s: killing what is left")
        _kill([(pid, "shipshape up")] * _alive(pid) + left)
    for key in ("sandbox_pid", "console_pid"):
        if info.get(key) and _alive(int(info[key])):
            _kill([(int(info[key]), key)])
    if info.get("started_warehouse") and not _alive(pid):
        log.info("%s", warehouse.stop_embedded(settings.data_dir / "warehouse"))
    settings.state_file.unlink(missing_ok=True)
    print("shipshape is down")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
