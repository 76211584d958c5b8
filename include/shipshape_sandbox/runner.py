"""Run a sandbox app with uvicorn: in the foreground (`shipshape sandbox serve`) or on a background
thread (tests and benchmarks talk to it over real HTTP on a free loopback port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from shipshape_sandbox.server import API_NAMES, Sandbox, create_app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    uvicorn.run(create_app(sandbox), host=host, port=port, log_level=log_level, access_log=False)


@contextmanager
def running(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int | None = None, apis: tuple[str, ...] = API_NAMES
) -> Iterator[str]:
    """Serve `sandbox` on a background thread; yields its base URL and stops it on exit."""
    port = port or free_port(host)
    sandbox.base_url = f"http://{host}:{port}"
    config = uvicorn.Config(create_app(sandbox, apis), host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield sandbox.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
