"""The Prefect API a command talks to: probing it, and a local ``prefect server start``.

:func:`prefect_api` gives a command the API at ``PREFECT_API_URL``, else a temporary local
server (SQLite, loopback); :func:`start_local_server` / :func:`stop_server` start and stop one
(its own session, so a terminal's Ctrl-C does not reach it), and :func:`exit_on_sigterm` turns
SIGTERM into ``SystemExit`` so the ``finally`` blocks that stop a server run on every exit path.
Used by ``postflow up`` (:mod:`postflow.serve.up`), the demo and every command that needs the API.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from core.errors import ConfigurationError
from core.processes import die_with_parent

__all__ = [
    "api_healthy",
    "exit_on_sigterm",
    "free_port",
    "prefect_api",
    "start_local_server",
    "stop_server",
]


def api_healthy(api_url: str, timeout_seconds: float = 2.0) -> bool:
    """True when ``GET <api_url>/health`` answers 200."""
    try:
        return (
            httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout_seconds).status_code == 200
        )
    except httpx.HTTPError:
        return False


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens on 127.0.0.1 there, else a free ephemeral port."""
    if preferred:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_local_server(
    port: int,
    log_path: Path,
    timeout_seconds: float = 120.0,
    environment: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1:``port``; returns the process and API URL.

    ``environment`` adds to (or overrides) this process's environment for the server, e.g.
    its own ``PREFECT_HOME``.

    The server gets its own session (a terminal's Ctrl-C reaches only us, so serve can still
    pause its deployments on the way out), is stopped if anything, a signal included,
    interrupts the wait for it to become healthy, and gets SIGTERM from the kernel when this
    process dies, ``kill -9`` included (:func:`core.processes.die_with_parent`).

    Raises:
        ConfigurationError: the server did not become healthy in time (see the log file).
    """
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        **(environment or {}),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": api_url,
    }
    env.pop("PREFECT_API_URL", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # kill -9 of this command stops the server too
        )
    try:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if api_healthy(api_url):
                return process, api_url
            if process.poll() is not None:
                break
            time.sleep(0.5)
    except BaseException:
        stop_server(process)
        raise
    stop_server(process)
    raise ConfigurationError(
        f"the local Prefect server did not start on port {port}; see {log_path}"
    )


def stop_server(process: subprocess.Popen | None, timeout_seconds: float = 30.0) -> None:
    """Stop a server from :func:`start_local_server` and its children (SIGTERM, then SIGKILL)."""
    if process is None or process.poll() is not None:
        return
    for sig, wait_seconds in ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # its own session: the group id is its pid
        try:
            process.wait(wait_seconds)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def prefect_api(log_path: Path, say: Callable[[str], None]) -> Iterator[str]:
    """The Prefect API a command talks to, for the command's life.

    ``PREFECT_API_URL`` when it is set; else a temporary local server (SQLite in
    ``PREFECT_HOME``), announced in one line through ``say``, made the API of every thread of
    this process and stopped when the block ends: on Ctrl-C, on SIGTERM (with
    :func:`exit_on_sigterm`) and, through the kernel, on ``kill -9`` of this process. This
    replaces Prefect's own ephemeral server, which nothing stops after a ``kill -9``.

    Args:
        log_path: where the temporary server's output goes.
        say: prints the one-line notice (the CLI's console).

    Yields:
        The API URL.

    Raises:
        ConfigurationError: the temporary server did not become healthy.
    """
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    port = free_port()
    say(
        f"PREFECT_API_URL is unset: starting a temporary Prefect server on 127.0.0.1:{port} "
        f"for this command (log: {log_path})"
    )
    server, api_url = start_local_server(port, log_path)
    # For every thread: temporary_settings would reach this one only (a context variable),
    # and the sensor's ingest threads then each started Prefect's own temporary server, which
    # a kill -9 left behind (seen in the soak). Prefect's global settings context is rebuilt
    # from the environment by refresh_global_settings_context.
    os.environ["PREFECT_API_URL"] = api_url
    refresh_global_settings_context()
    try:
        yield api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        refresh_global_settings_context()
        stop_server(server)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so ``finally`` blocks (stopping the server) run.

    ``prefect.serve`` installs its own handler when it starts (it stops the runner, then exits
    the same way); this one covers the seconds before that. Main thread only (Python's rule).
    """

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
