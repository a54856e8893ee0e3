"""Reading ingest telemetry back from the Prefect API as plain rows for
:mod:`tasks.observe.metrics`.

Four sources, all through Prefect's own client (``get_client``): ``ingest-file`` flow runs
(started in the window, plus any still waiting or running), their task runs, the
``postflow.upload.*`` events, and the live measurements: ``postflow.metrics`` events and the
alerts (``postflow.alert.*``, ``postflow.frameio.circuit.*``). Events are read with
``read_events`` / ``read_events_page`` (``POST /events/filter`` then its ``next_page``
links). Events carry the emitting flow run as a related resource (``prefect.flow-run.<id>``,
added by Prefect's events worker), which joins them to runs.

Task runs and events reach the database asynchronously (Prefect's task-run recorder and
event persister services), so a report started the instant an ingest ends may miss it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventOrder

from tasks.observe.history import PAGE, flow_runs_since
from tasks.observe.metrics import WAITING_STATES

INGEST_FLOW = "ingest-file"
UPLOAD_EVENT_PREFIX = "postflow.upload."
METRICS_EVENT = "postflow.metrics"  # tasks.observe.metrics_emitter
ALERT_PREFIXES = ("postflow.alert.", "postflow.frameio.circuit.")
_ID_BATCH = 100
EVENTS_PAGE = 50  # the API's maximum `limit` for /events/filter


@dataclass
class IngestHistory:
    """Rows of one window (shapes: :mod:`tasks.observe.metrics`)."""

    runs: list[dict[str, Any]]
    task_runs: list[dict[str, Any]]
    events: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _seconds(run: Any) -> float | None:
    total = getattr(run, "total_run_time", None)
    return total.total_seconds() if total is not None else None


def run_row(run: Any) -> dict[str, Any]:
    """A run row from a Prefect ``FlowRun``."""
    return {
        "id": str(run.id),
        "path": (run.parameters or {}).get("path"),
        "state": run.state.type.value if run.state else "UNKNOWN",
        "state_name": run.state.name if run.state else "Unknown",
        "start_time": run.start_time,
        "seconds": _seconds(run),
    }


def task_row(task_run: Any) -> dict[str, Any]:
    """A task row from a Prefect ``TaskRun`` (its name is ``<task name>-<suffix>``)."""
    name = task_run.name.rsplit("-", 1)[0] if "-" in task_run.name else task_run.name
    return {
        "flow_run_id": str(task_run.flow_run_id),
        "task": name,
        "state_name": task_run.state.name if task_run.state else "Unknown",
        "seconds": _seconds(task_run),
        "run_count": task_run.run_count,
    }


def event_row(event: Any) -> dict[str, Any]:
    """An event row from a Prefect ``ReceivedEvent``: name, time, flow run id, payload."""
    flow_run_id = next(
        (
            r.id.removeprefix("prefect.flow-run.")
            for r in event.related
            if r.id.startswith("prefect.flow-run.")
        ),
        None,
    )
    return {
        **event.payload,
        "event": event.event,
        "occurred": event.occurred,
        "flow_run_id": flow_run_id,
    }


def waiting_ingest_runs() -> list[Any]:
    """Ingest runs not finished yet (scheduled, pending, paused, running), whenever created."""
    states = [StateType(s) for s in sorted(WAITING_STATES)]
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[INGEST_FLOW])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
            ),
            limit=PAGE,
        )


def task_runs_of(flow_run_ids: list[str]) -> list[Any]:
    """Every task run of the given flow runs, paging through the API."""
    out: list[Any] = []
    with get_client(sync_client=True) as client:
        for start in range(0, len(flow_run_ids), _ID_BATCH):
            batch = [UUID(run_id) for run_id in flow_run_ids[start : start + _ID_BATCH]]
            run_filter = FlowRunFilter(id=FlowRunFilterId(any_=batch))
            offset = 0
            while True:
                page = client.read_task_runs(flow_run_filter=run_filter, limit=PAGE, offset=offset)
                out.extend(page)
                offset += len(page)
                if len(page) < PAGE:
                    break
    return out


def upload_events(since: datetime, until: datetime) -> list[Any]:
    """Every ``postflow.upload.*`` event that occurred in ``[since, until]``, oldest first."""
    return events_named(since, until, [UPLOAD_EVENT_PREFIX])


def events_named(since: datetime, until: datetime, prefixes: Iterable[str]) -> list[Any]:
    """Every event whose name starts with one of ``prefixes`` that occurred in
    ``[since, until]``, oldest first (all pages)."""
    event_filter = EventFilter(
        # The fields are typed as Prefect's `DateTime` (pendulum's, below Python 3.13); pydantic
        # converts a stdlib datetime into it on validation, which the typed keyword constructor
        # does not express, so the values go through `model_validate` (the same validation).
        occurred=EventOccurredFilter.model_validate({"since": since, "until": until}),
        event=EventNameFilter(prefix=list(prefixes)),
        order=EventOrder.ASC,
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=event_filter, limit=EVENTS_PAGE)
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(str(page.next_page))
            events.extend(page.events)
    return events


def read_ingest_history(since: datetime, until: datetime) -> IngestHistory:
    """The rows of every ingest run started in ``[since, until]`` (and those still waiting),
    their task runs, and the upload, ``postflow.metrics`` and alert events of the window.

    Raises:
        prefect.exceptions.PrefectHTTPStatusError: the API refused a query.
        httpx.HTTPError: the API could not be reached.
    """
    runs = {str(r.id): r for r in flow_runs_since(INGEST_FLOW, since)}
    runs.update({str(r.id): r for r in waiting_ingest_runs()})
    kept = [r for r in runs.values() if r.start_time is None or r.start_time <= until]
    return IngestHistory(
        runs=[run_row(r) for r in kept],
        task_runs=[task_row(t) for t in task_runs_of([str(r.id) for r in kept])],
        events=[event_row(e) for e in upload_events(since, until)],
        metrics=[event_row(e) for e in events_named(since, until, [METRICS_EVENT])],
        alerts=[event_row(e) for e in events_named(since, until, ALERT_PREFIXES)],
    )
