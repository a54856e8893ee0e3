"""Real peers of the scale-out test: PostgreSQL, Redis and a Prefect server on PostgreSQL.

Each is started in a temporary directory on a free loopback port and stopped afterwards.
PostgreSQL is the Debian ``postgresql`` package (``.ci/run`` installs it): ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition, timeout_seconds: float, what: str):
    """Poll ``condition()`` until truthy (returned); AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    assert found, f"{name} is required (apt-get install postgresql)"
    return found


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; yields an asyncpg URL for Prefect (user ``prefect``,
    trust auth on loopback, fsync off)."""
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="postflow-pg-"))
    if user:
        shutil.chown(root, user)
    data, port = root / "data", free_port()
    run = {"user": user, "check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        [_pg_binary("initdb"), "-D", str(data), "-U", "prefect", "--auth=trust", "-E", "UTF8"],
        **run,
    )
    options = f"-p {port} -h 127.0.0.1 -k {root} -F"
    pg_ctl = _pg_binary("pg_ctl")
    subprocess.run(
        [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"], **run
    )
    try:
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A throw-away redis-server (Debian package); yields its URL (db 0)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (apt-get install redis-server)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        wait_for(lambda: _pings(client), 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def prefect_server_on(database_url: str, home: Path) -> Iterator[str]:
    """``prefect server start`` on loopback against ``database_url``; yields the API URL."""
    from postflow.serve.up import start_local_server, stop_server

    saved = {
        k: os.environ.get(k) for k in ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_HOME")
    }
    os.environ.update(PREFECT_SERVER_DATABASE_CONNECTION_URL=database_url, PREFECT_HOME=str(home))
    try:
        server, api_url = start_local_server(free_port(), home / "server.log")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield api_url
    finally:
        stop_server(server)
