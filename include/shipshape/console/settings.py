"""The console's settings, each an environment variable with a default, and how it reaches the warehouse.

| variable | default | meaning |
|---|---|---|
| ``SHIPSHAPE_CONSOLE_ADDRESS`` | ``127.0.0.1`` | the address it listens on; any non-loopback address requires a login |
| ``SHIPSHAPE_CONSOLE_PORT`` | ``8501`` | its port |
| ``SHIPSHAPE_CONSOLE_PASSWORD`` | unset | the login's password (required off loopback; with it set, loopback asks too) |
| ``SHIPSHAPE_CONSOLE_CACHE_TTL`` | ``30`` | seconds a query's answer is reused |
| ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE`` | unset | the read-only connection (a Postgres Airflow connection, URI or JSON) |

Without ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE`` the console connects to the warehouse
(``AIRFLOW_CONN_SHIPSHAPE_WAREHOUSE``, else the embedded one) as the role ``shipshape_console`` that the
warehouse bootstrap creates, without a password: enough on the embedded warehouse and any server that
trusts local connections. A server that asks for passwords needs that role given one and the connection
set. Nothing here is ever printed with its password (``shipshape.warehouse.mask_url``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shipshape import connections, warehouse

CONSOLE_CONN_ID = "shipshape_console"
CONSOLE_CONN_ENV = connections.env_var(CONSOLE_CONN_ID)  # AIRFLOW_CONN_SHIPSHAPE_CONSOLE
ADDRESS_ENV = "SHIPSHAPE_CONSOLE_ADDRESS"
PORT_ENV = "SHIPSHAPE_CONSOLE_PORT"
PASSWORD_ENV = "SHIPSHAPE_CONSOLE_PASSWORD"
CACHE_TTL_ENV = "SHIPSHAPE_CONSOLE_CACHE_TTL"
# the contract with the Airflow plugin: `shipshape up` exports the console's URL to every Airflow process
URL_ENV = "SHIPSHAPE_CONSOLE_URL"
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_CACHE_TTL = 30.0


class ConsoleError(RuntimeError):
    """The console cannot start or connect; the message says what to set."""


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` only accepts connections from this machine. ``None`` or ``""`` (Streamlit's
    default: every interface) and ``0.0.0.0`` are not."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _number(env: Mapping[str, str], name: str, default: float, cast=float):
    value = env.get(name)
    if not value:
        return default
    try:
        return cast(value)
    except ValueError:
        raise ConsoleError(f"{name}={value!r} is not a number") from None


@dataclass(frozen=True)
class ConsoleSettings:
    address: str = DEFAULT_ADDRESS
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    cache_ttl: float = DEFAULT_CACHE_TTL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if env is None else env
        return cls(address=env.get(ADDRESS_ENV) or DEFAULT_ADDRESS,
                   port=_number(env, PORT_ENV, DEFAULT_PORT, int),
                   password=env.get(PASSWORD_ENV) or None,
                   cache_ttl=_number(env, CACHE_TTL_ENV, DEFAULT_CACHE_TTL))

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        return f"http://{host}:{self.port}"

    def login_required(self, bound_address: str | None) -> bool:
        """A login is asked for when a password is set, and must be when the server listens beyond loopback."""
        return bool(self.password) or not is_loopback(bound_address)

    def check(self) -> None:
        """Refuse to listen beyond loopback without a password: order data holds names and addresses."""
        if not is_loopback(self.address) and not self.password:
            raise ConsoleError(f"the console would listen on {self.address!r}, beyond this machine, without a login:"
                               f" set {PASSWORD_ENV} (or {ADDRESS_ENV}=127.0.0.1)")


def console_role_url(warehouse_url: str) -> str:
    """The warehouse connection with the console's role as its user and no password: a ``postgresql://`` URL,
    which is also an Airflow connection's URI form (what ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE`` takes)."""
    owner = connections.parse(warehouse.CONN_ID, warehouse_url)
    return warehouse.url_of(replace(owner, login=warehouse.CONSOLE_ROLE, password=None))


def database_url(env: Mapping[str, str] | None = None) -> str:
    """How the console connects: ``AIRFLOW_CONN_SHIPSHAPE_CONSOLE``, else the configured warehouse as the
    console's role. Raises ConsoleError when neither is set (``shipshape console`` sets the first)."""
    env = os.environ if env is None else env
    url = warehouse.resolve_url(env, conn_id=CONSOLE_CONN_ID)
    if url:
        return url
    configured = warehouse.resolve_url(env)
    if configured:
        return console_role_url(configured)
    raise ConsoleError(f"no warehouse to read: set {CONSOLE_CONN_ENV} (or {warehouse.CONN_ENV}), or start the "
                       "console with `shipshape console`, which finds the embedded warehouse")
