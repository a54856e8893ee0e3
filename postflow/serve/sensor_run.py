"""The one live ``watch-by-shot`` run ``postflow up`` keeps.

The sensor deployment has no schedule or trigger, so nothing but :func:`ensure_sensor_run`
starts it: it keeps an existing Scheduled, Pending or Running run, and replaces a Running one
whose process died without reporting (no state change and no heartbeat for a while).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

__all__ = ["LIVE_STATES", "SENSOR_DEPLOYMENT", "ensure_sensor_run"]

SENSOR_DEPLOYMENT = "watch-by-shot/watch-by-shot"
LIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING")


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
