"""The deployments of ``prefect.yaml``: built and registered, each on its work pool.

``prefect.yaml`` is the single source of truth (entrypoints, cron schedules, triggers if any,
concurrency limits, work pools and their job variables): :func:`load_deployments` builds a
``RunnerDeployment`` per entry, with a module-path entrypoint (:func:`module_entrypoint`);
:func:`apply_deployments` registers them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.events import DeploymentEventTrigger
from prefect.exceptions import ScriptError
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

from core.errors import ConfigurationError

__all__ = [
    "PREFECT_YAML",
    "PROJECT_ROOT",
    "apply_deployments",
    "load_deployments",
    "module_entrypoint",
]

# The directory our packages are imported from: the checkout, or site-packages when installed
# (prefect.yaml's file-path entrypoints, flows/*.py, are relative to it).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Package data of postflow (pyproject.toml): in the checkout a symlink to the top-level
# prefect.yaml (which `prefect deploy --all` reads), in a built wheel a copy of it.
PREFECT_YAML = Path(__file__).parents[1] / "prefect.yaml"


def _trigger(spec: dict[str, Any]) -> DeploymentEventTrigger:
    return DeploymentEventTrigger(**{k: v for k, v in spec.items() if k != "type"})


def _schedule(spec: dict[str, Any]) -> Any:
    if "cron" not in spec:
        raise ConfigurationError(f"prefect.yaml: only cron schedules are served: {spec}")
    return Cron(spec["cron"], timezone=spec.get("timezone"), active=spec.get("active", True))


def load_deployments(path: Path = PREFECT_YAML) -> list[Any]:
    """``RunnerDeployment`` s built from ``prefect.yaml``, each on its work pool.

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
                    work_pool_name=(item.get("work_pool") or {}).get("name"),
                    job_variables=item.get("job_variables") or {},
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
    """Register (create or update) each ``RunnerDeployment`` on its work pool, creating our
    missing pools first (:func:`postflow.serve.runners.ensure_pools`); returns ``{name: id}``.

    Raises:
        ConfigurationError: a deployment's pool is missing and not ours, or ours with
            another type.

    Registering deletes the automations a deployment owns before creating its triggers
    (Prefect 3.8.8 ``RunnerDeployment._create_triggers_sync``, called on every ``apply``), so
    the ``postflow.file.ready`` trigger that versions before deployment mode registered on
    ``ingest-file`` is gone after the first ``up``: the sensor creates the runs now.
    """
    from postflow.serve.runners import ensure_pools

    ensure_pools(deployments)
    return {d.name: d.apply() for d in deployments}
