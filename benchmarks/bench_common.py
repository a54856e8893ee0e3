"""What the ``make bench`` sections share: result rows, ports, nginx, the sandbox's environment.

Each section is a script that prints its progress as plain lines and each figure as one
``BENCH-ROW {json}`` line (:func:`emit`); ``benchmarks/bench.py`` runs the sections as
subprocesses, collects those lines and prints one table. A row names the figure, its value,
the floor or peer measured in the same run, their ratio and the goal. Nothing here asserts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
ROW_PREFIX = "BENCH-ROW "


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes:
        section: ``"P1"`` ... ``"P6"``.
        figure: what was measured, e.g. ``"upload to nginx sink, ours + xxh3"``.
        value: the figure, formatted with its unit (``"1.92 GB/s"``).
        peer: the floor or peer measured in the same run, formatted (``"curl 2.10 GB/s"``).
        ratio: value / peer as the goal reads it (``"0.91x"``), or "" when there is no peer.
        goal: the goal, e.g. ``">= 0.9x curl, >= 1 GB/s"``.
    """

    section: str
    figure: str
    value: str
    peer: str = ""
    ratio: str = ""
    goal: str = ""


def emit(row: Row) -> None:
    """Print ``row`` as a ``BENCH-ROW`` line (and flush: the runner reads it live)."""
    print(ROW_PREFIX + json.dumps(asdict(row)), flush=True)


def ratio(value: float, peer: float) -> str:
    """``"1.23x"``; ``"-"`` when the peer is zero."""
    return f"{value / peer:.2f}x" if peer else "-"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen | None = None) -> None:
    """Return once ``127.0.0.1:port`` accepts connections.

    Raises:
        RuntimeError: ``proc`` exited or ``seconds`` went by.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {seconds:.0f} s")


NGINX_SINK_CONF = """daemon off;
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        client_max_body_size 0;
        location / {{ return 200 ""; }}
    }}
}}
"""


@contextmanager
def nginx_put_sink(tmp: Path) -> Iterator[str]:
    """nginx on loopback answering 200 to any PUT, the body read and discarded (a stand-in
    for S3 that costs next to nothing); yields its base URL.

    Raises:
        RuntimeError: nginx (Debian ``nginx-light``) is missing or did not start.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx-sink.conf"
    conf.write_text(NGINX_SINK_CONF.format(tmp=tmp, port=port))
    try:
        proc = subprocess.Popen(
            ["nginx", "-p", str(tmp), "-c", str(conf)], stderr=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise RuntimeError("nginx not found: apt-get install -y nginx-light") from exc
    try:
        wait_for_port(port, 10, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def make_file(path: Path, size: int) -> None:
    """Write ``size`` random bytes (an 8 MiB random block repeated)."""
    block = os.urandom(8 * MIB)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])


def warm(path: Path) -> None:
    """Read ``path`` once so it sits in the page cache."""
    with path.open("rb", buffering=0) as handle:
        while handle.read(8 * MIB):
            pass


def sandbox_env(url: str, ids: dict[str, str], state: Path) -> dict[str, str]:
    """The POSTFLOW_* environment of a process talking to the sandbox at ``url``
    (credentials from variables, no saved blocks), with its own PREFECT_HOME (created)."""
    (state / "prefect-home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "POSTFLOW_"))}
    settings = {
        "STATE_DIR": state,
        "FRAMEIO_API_BASE_URL": url,
        "FRAMEIO_IMS_BASE_URL": url,
        "FRAMEIO_ACCOUNT_ID": ids["account_id"],
        "FRAMEIO_PROJECT_ID": ids["project_id"],
        "FRAMEIO_CLIENT_ID": ids["client_id"],
        "FRAMEIO_CLIENT_SECRET": ids["client_secret"],
        "FRAMEIO_CREDENTIALS_BLOCK": "postflow-bench-absent-block",
        "DISCORD_BLOCK": "postflow-bench-absent-discord",
        "TASK_RETRY_BACKOFF_SECONDS": 0.5,
    }
    env.update({f"POSTFLOW_{name}": str(value) for name, value in settings.items()})
    env.update(
        PREFECT_HOME=str(state / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    return env


def sandbox_ids(server: object) -> dict[str, str]:
    """The ids and credentials of a :class:`postflow.sandbox.server.SandboxServer`."""
    return {
        name: str(getattr(server, name))
        for name in ("account_id", "project_id", "client_id", "client_secret")
    }


def curl_put_all(jobs: list[tuple[Path, str]], content_type: str, concurrency: int) -> float:
    """Seconds for curl to PUT each ``(part file, url)``, ``concurrency`` at a time, with the
    headers Frame.io's part URLs expect (the peer our streaming uploader is measured against).

    Raises:
        subprocess.CalledProcessError: a PUT failed.
    """

    def put(job: tuple[Path, str]) -> None:
        part, url = job
        command = ["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(part)]
        command += ["-H", "x-amz-acl: private", "-H", f"Content-Type: {content_type}", url]
        subprocess.run(command, check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put, jobs))
    return time.perf_counter() - started
