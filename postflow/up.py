"""``postflow up``: run RL PostFlow the Prefect way on one machine.

1. use the Prefect API at ``PREFECT_API_URL`` if it answers, else start a local
   ``prefect server start`` (SQLite, loopback) and point this process at it;
2. register the block types;
3. build every deployment of ``prefect.yaml`` (the single source of truth: triggers, schedules,
   concurrency limits) and register them (:func:`apply_deployments`) *before* the automations
   are applied, so the sensor-restart action can name the ``watch-by-shot`` deployment;
4. make sure exactly one ``watch-by-shot`` run exists (:func:`ensure_sensor_run`: the sensor
   has no schedule or trigger, so nothing else would start it);
5. serve them all from this process (:func:`serve_deployments`), with the sensor in deployed
   mode (it emits ``postflow.file.ready``; the trigger creates one ``ingest-file`` run per
   file): ingest runs execute warm, in this process (:mod:`postflow.warm`), the others in a
   process each through ``prefect.serve``'s Runner.

A server started here runs in its own session (Ctrl-C in the terminal does not reach it) and is
stopped by :func:`stop_server` on every exit path, SIGTERM included (:func:`exit_on_sigterm`).
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import yaml
from prefect.events import DeploymentEventTrigger
from prefect.exceptions import ScriptError
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

from core.errors import ConfigurationError
from core.processes import die_with_parent

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
SENSOR_DEPLOYMENT = "watch-by-shot/watch-by-shot"
LIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING")


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
    port: int, log_path: Path, timeout_seconds: float = 120.0
) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1:``port``; returns the process and API URL.

    The server gets its own session (a terminal's Ctrl-C reaches only us, so serve can still
    pause its deployments on the way out), is stopped if anything, a signal included,
    interrupts the wait for it to become healthy, and gets SIGTERM from the kernel when this
    process dies, ``kill -9`` included (:func:`core.processes.die_with_parent`).

    Raises:
        ConfigurationError: the server did not become healthy in time (see the log file).
    """
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_API_URL": api_url}
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


def _trigger(spec: dict[str, Any]) -> DeploymentEventTrigger:
    return DeploymentEventTrigger(**{k: v for k, v in spec.items() if k != "type"})


def _schedule(spec: dict[str, Any]) -> Any:
    if "cron" not in spec:
        raise ConfigurationError(f"prefect.yaml: only cron schedules are served: {spec}")
    return Cron(spec["cron"], timezone=spec.get("timezone"), active=spec.get("active", True))


def load_deployments(path: Path = PREFECT_YAML) -> list[Any]:
    """``RunnerDeployment`` s built from ``prefect.yaml`` (for ``prefect.serve``).

    Raises:
        ConfigurationError: the file is missing or a deployment cannot be built.
    """
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    deployments = []
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)  # entrypoints are relative to the project root
    try:
        for item in spec.get("deployments", []):
            # No placeholder flow: Prefect would swap a flow file that fails to import for
            # one that cannot be deployed, hiding the cause.
            try:
                flow = load_flow_from_entrypoint(item["entrypoint"], use_placeholder_flow=False)
            except ScriptError as exc:
                cause = exc.user_exc
                raise ConfigurationError(
                    f"prefect.yaml: {item['entrypoint']} does not import: "
                    f"{type(cause).__name__}: {cause}"
                ) from cause
            deployments.append(
                flow.to_deployment(
                    name=item["name"],
                    description=item.get("description"),
                    tags=item.get("tags"),
                    parameters=item.get("parameters") or {},
                    concurrency_limit=item.get("concurrency_limit"),
                    triggers=[_trigger(t) for t in item.get("triggers") or []],
                    schedules=[_schedule(s) for s in item.get("schedules") or []],
                )
            )
    finally:
        os.chdir(cwd)
    for deployment in deployments:
        deployment.entrypoint = module_entrypoint(deployment.entrypoint)
    return deployments


def module_entrypoint(entrypoint: str) -> str:
    """``"flows/sensor.py:watch_by_shot"`` -> ``"flows.sensor.watch_by_shot"``.

    A file-path entrypoint is resolved against the flow-run process's working directory (the
    Runner's child inherits the directory ``up`` was started from), so ``up`` failed outside
    the checkout. A module-path entrypoint (no colon) is imported instead, and our packages
    are installed; Prefect 3.8.8 ``load_flow_from_flow_run`` takes either form.
    """
    path, colon, name = entrypoint.partition(":")
    if not colon:
        return entrypoint
    return f"{path.removesuffix('.py').replace('/', '.')}.{name}"


def apply_deployments(deployments: list[Any]) -> dict[str, UUID]:
    """Register (create or update) each ``RunnerDeployment``; returns ``{name: id}``.

    ``prefect.serve`` registers them again when it starts, which is an idempotent update.
    Duplicate trigger automations left by another ``up`` registering at the same moment are
    dropped (:func:`drop_duplicate_triggers`).
    """
    ids = {d.name: d.apply() for d in deployments}
    for deployment in deployments:
        if deployment.triggers:
            drop_duplicate_triggers(ids[deployment.name])
    return ids


def drop_duplicate_triggers(deployment_id: UUID) -> int:
    """Keep one automation per name among those that run a deployment; returns how many were
    deleted.

    Registering a deployment deletes the automations it owns, then creates its triggers. Two
    machines' ``up`` doing it at the same moment can leave two of each, and then every
    ``postflow.file.ready`` creates two ingest runs (seen in the scale-out test: 60 runs for
    30 files). Every process keeps the automation with the smallest id, so they agree.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        related = client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
        running_it = [
            a
            for a in related
            if any(getattr(x, "deployment_id", None) == deployment_id for x in a.actions)
        ]
        keep: dict[str, Any] = {}
        for automation in sorted(running_it, key=lambda a: str(a.id)):
            keep.setdefault(automation.name, automation)
        extra = [a for a in running_it if keep[a.name] is not a]
        for automation in extra:
            with contextlib.suppress(Exception):  # another process deleted it first
                client.delete_automation(automation.id)
    return len(extra)


def _heartbeat_since(client: Any, run_id: UUID, since: datetime) -> bool:
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    page = client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since),
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=1,
    )
    return bool(page.events)


def ensure_sensor_run(stale_after_seconds: float | None = None) -> tuple[Any, bool]:
    """Make sure exactly one ``watch-by-shot`` run is Scheduled, Pending or Running.

    Idempotent: an existing live run is kept (a run left Scheduled while ``up`` was down is
    picked up when serving starts). A Running run with no state change and no heartbeat for
    ``stale_after_seconds`` (default: one heartbeat period plus 90 s; the engine sends one
    when the run starts) belonged to a process that died without reporting (``kill -9``,
    power loss): it is marked Crashed and a new run is created.

    Returns:
        ``(flow_run, created)``.

    Raises:
        prefect.exceptions.ObjectNotFound: the sensor deployment is not registered.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.settings import get_current_settings
    from prefect.states import Crashed

    if stale_after_seconds is None:
        stale_after_seconds = (get_current_settings().flows.heartbeat_frequency or 180) + 90
    stale_since = datetime.now(UTC) - timedelta(seconds=stale_after_seconds)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SENSOR_DEPLOYMENT)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType(s) for s in LIVE_STATES])
                )
            ),
        )
        live = []
        for run in runs:
            changed = run.state.timestamp if run.state else None
            if (
                run.state_type == StateType.RUNNING
                and changed is not None
                and changed < stale_since
                and not _heartbeat_since(client, run.id, stale_since)
            ):
                message = f"no heartbeat for {stale_after_seconds:.0f} s; replaced by postflow up"
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                continue
            live.append(run)
        if live:
            return live[0], False
        return client.create_flow_run_from_deployment(deployment.id, tags=["postflow-up"]), True


from postflow.runners import serve_deployments  # noqa: E402 - re-export for the CLI (no cycle)

__all__ = [
    "api_healthy",
    "apply_deployments",
    "drop_duplicate_triggers",
    "ensure_sensor_run",
    "exit_on_sigterm",
    "free_port",
    "load_deployments",
    "prefect_api",
    "serve_deployments",
    "start_local_server",
    "stop_server",
]
