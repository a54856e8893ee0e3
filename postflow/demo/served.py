"""The demo through ``postflow up``: a Prefect server, ``up`` in a subprocess, runs watched.

Steps 1 and 3-5 of :mod:`postflow.demo.main`: use the server named with ``--prefect-api-url`` or
start a local one (:func:`postflow.serve.prefect_server.start_local_server`), start ``postflow up``
in its own session (:func:`start_up`), wait for its sensor run, write the renders and wait for every
file's ``ingest-file`` run (:func:`deployment_runs`), then the latency alert.
``up`` and the server are stopped on every exit path (:func:`stop_up`). When the Prefect way
cannot be set up, :class:`ServedDemoUnavailable` says why and the demo falls back to running
in process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from core.errors import PostflowError
from postflow.demo.alerts import latency_burst
from postflow.demo.environment import save_blocks
from postflow.demo.media import BAD_FILES, GOOD_FILES, populate
from postflow.demo.output import print_prefect_runs, print_results
from postflow.sandbox.discord_receiver import DiscordReceiver
from postflow.sandbox.server import SandboxServer
from postflow.serve.prefect_server import (
    api_healthy,
    exit_on_sigterm,
    free_port,
    start_local_server,
    stop_server,
)
from postflow.serve.sensor_run import SENSOR_DEPLOYMENT

__all__ = [
    "ServedDemoUnavailable",
    "deployment_runs",
    "run_served",
    "start_up",
    "stop_up",
]

INGEST_DEPLOYMENT = "ingest-file/ingest-file"
SERVER_START_SECONDS = 90.0  # `prefect server start` is healthy after ~15 s on 2 cores
SENSOR_START_SECONDS = 90.0  # `postflow up` registers everything, then the runner starts it
INGESTS_SECONDS = 150.0  # from the first file written to the last ingest run finished


class ServedDemoUnavailable(PostflowError):
    """The Prefect way could not be set up (server or ``postflow up`` did not start)."""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_up(base: Path, api_url: str) -> subprocess.Popen:
    """``postflow up`` against ``api_url``, in its own session, output in ``up.log``."""
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "COLUMNS": "160",
    }
    with (base / "up.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "postflow.cli.main", "up"],
            cwd=base,  # nothing of a checkout (its .env) is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_up(up: subprocess.Popen | None) -> None:
    """SIGTERM (serve cancels its runs and pauses the deployments), then SIGKILL the group."""
    if up is None:
        return
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            up.wait(60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGKILL)  # flow-run subprocesses left behind, if any
    up.wait(10)


def deployment_runs(client: Any, name: str, since: datetime) -> list[Any]:
    """The flow runs of deployment ``name`` (``"flow/deployment"``) expected to start after
    ``since``, at most 200; ``[]`` when the deployment is not registered.

    Args:
        client: a sync Prefect client (``get_client(sync_client=True)``).
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.exceptions import ObjectNotFound

    try:
        deployment = client.read_deployment_by_name(name)
    except ObjectNotFound:
        return []
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
        ),
        limit=200,
    )


def _wait_until(up: subprocess.Popen, log: Path, seconds: float, what: str, check: Any) -> Any:
    """Poll ``check()`` every second until it returns something truthy.

    Raises:
        ServedDemoUnavailable: ``postflow up`` exited, or ``seconds`` went by.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if up.poll() is not None:
            raise ServedDemoUnavailable(
                f"`postflow up` exited with {up.returncode} while waiting for {what}; "
                f"its log ({log}) ends with:\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise ServedDemoUnavailable(f"no {what} after {seconds:.0f} s; see {log}")
        time.sleep(1.0)


def _prefect_server(console: Console, base: Path, port: int) -> tuple[Any, str]:
    """``(server process or None, API URL)``: the server named with ``--prefect-api-url``
    (``PREFECT_API_URL`` is only ever that here:
    :func:`postflow.demo.prefect_choice.isolate_prefect`
    cleared the caller's) when it answers, else a local one started here.

    Raises:
        ServedDemoUnavailable: the local server did not start.
    """
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if api_url and api_healthy(api_url):
        console.print(f"Using the Prefect server at {api_url} (--prefect-api-url)")
        return None, api_url
    port = free_port(port or None)
    console.print(f"Starting a local Prefect server on 127.0.0.1:{port} (SQLite) ...")
    try:
        return start_local_server(
            port, base / "prefect-server.log", timeout_seconds=SERVER_START_SECONDS
        )
    except PostflowError as exc:
        raise ServedDemoUnavailable(str(exc)) from exc


def _served_ingests(
    console: Console, base: Path, up: subprocess.Popen, started: datetime
) -> list[Any] | None:
    """Wait for the sensor run, write the renders, and wait for every file's ingest run;
    the finished runs, or None when they did not all finish in time.

    Raises:
        ServedDemoUnavailable: ``postflow up`` exited, or its sensor never ran.
    """
    from prefect.client.orchestration import get_client

    up_log = base / "up.log"
    expected = len(GOOD_FILES) + len(BAD_FILES)
    with get_client(sync_client=True) as client:

        def sensor_running() -> Any:
            runs = deployment_runs(client, SENSOR_DEPLOYMENT, started)
            return next((r for r in runs if r.state_type.value == "RUNNING"), None)

        def ingests_done() -> list[Any] | None:
            runs = deployment_runs(client, INGEST_DEPLOYMENT, started)
            final = [r for r in runs if r.state is not None and r.state.is_final()]
            return final if len(final) >= expected else None

        sensor = _wait_until(up, up_log, SENSOR_START_SECONDS, "running sensor", sensor_running)
        console.print(
            f"Sensor [bold]{sensor.name}[/bold] is running (deployment mode); writing renders:",
            highlight=False,
        )
        writer = threading.Thread(
            target=populate, args=(base / "BY_SHOT", base, console), daemon=True
        )
        writer.start()
        try:
            ingests = _wait_until(up, up_log, INGESTS_SECONDS, "finished ingest runs", ingests_done)
        except ServedDemoUnavailable as exc:
            console.print(f"[red]{exc}[/red]", highlight=False)
            return None
        writer.join()
    return ingests  # type: ignore[no-any-return]


def run_served(
    console: Console,
    base: Path,
    sandbox: SandboxServer,
    discord: DiscordReceiver,
    keep_running: bool,
    port: int,
) -> int:
    """The demo through ``postflow up`` (see the module docstring)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    exit_on_sigterm()  # SIGTERM runs the finally below: no orphan server or `up`
    server: subprocess.Popen | None = None
    up: subprocess.Popen | None = None
    try:
        server, api_url = _prefect_server(console, base, port)
        ui_url = api_url.removesuffix("/api")
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            save_blocks(sandbox, discord)
            started = datetime.now(UTC)
            up = start_up(base, api_url)
            console.print(
                f"Prefect UI: [bold]{ui_url}[/bold]   `postflow up` log: {base / 'up.log'}"
            )
            ingests = _served_ingests(console, base, up, started)
            if ingests is None:
                print_prefect_runs(console, started)
                return 1
            # the unreadable name's run fails and sends its own message (one per bad file)
            failed = [r for r in ingests if not r.state.is_completed()]
            burst = latency_burst(console, sandbox, discord, base / "BY_SHOT")
            how = f"; {len(ingests)} ingest-file runs via `postflow up`"
            ok = print_results(console, discord, started, base, len(failed), how, int(burst))
            if keep_running:
                console.print(
                    f"Prefect UI: [bold]{ui_url}[/bold] - still serving; drop files "
                    f"into {base / 'BY_SHOT'}. Ctrl-C to stop."
                )
                try:
                    up.wait()
                except KeyboardInterrupt:
                    console.print("Stopping ...")
            return 0 if ok else 1
    finally:
        stop_up(up)
        stop_server(server)
