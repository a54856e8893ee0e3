"""The deployments of ``prefect.yaml``: built for ``prefect.serve`` and registered.

``prefect.yaml`` is the single source of truth (entrypoints, triggers, cron schedules,
concurrency limits): :func:`load_deployments` builds a ``RunnerDeployment`` per entry, with a
module-path entrypoint (:func:`module_entrypoint`); :func:`apply_deployments` registers them and
drops the duplicate trigger automations two machines' ``postflow up`` can leave
(:func:`drop_duplicate_triggers`).
"""

from __future__ import annotations

import contextlib
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
    "drop_duplicate_triggers",
    "load_deployments",
    "module_entrypoint",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


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
