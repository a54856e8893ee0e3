"""``postflow up``: run RL PostFlow the Prefect way on one machine.

1. use the Prefect API at ``PREFECT_API_URL`` if it answers, else start a local
   ``prefect server start`` (SQLite, loopback) and point this process at it;
2. register the block types;
3. build every deployment of ``prefect.yaml`` (the single source of truth: triggers, schedules,
   concurrency limits) and serve them all from this process with ``prefect.serve``, with the
   sensor in deployed mode (it emits ``postflow.file.ready``; the trigger starts ingests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prefect.events import DeploymentEventTrigger
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

from postflow.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def api_healthy(api_url: str, timeout_seconds: float = 2.0) -> bool:
    """True when ``GET <api_url>/health`` answers 200."""
    try:
        return (
            httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout_seconds).status_code == 200
        )
    except httpx.HTTPError:
        return False


def start_local_server(
    port: int, log_path: Path, timeout_seconds: float = 120.0
) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1:``port``; returns the process and API URL.

    Raises:
        ConfigurationError: the server did not become healthy in time (see the log file).
    """
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_API_URL": api_url}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if api_healthy(api_url):
            return process, api_url
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.terminate()
    raise ConfigurationError(f"the local Prefect server did not start; see {log_path}")


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
            flow = load_flow_from_entrypoint(item["entrypoint"])
            deployments.append(
                flow.to_deployment(
                    name=item["name"],
                    description=item.get("description"),
                    tags=item.get("tags"),
                    parameters=item.get("parameters") or {},
                    concurrency_limit=item.get("concurrency_limit"),
                    triggers=[_trigger(t) for t in item.get("triggers") or []],
                    schedules=[_schedule(s) for s in item.get("schedules") or []],
                )  # fmt: skip
            )
    finally:
        os.chdir(cwd)
    return deployments
