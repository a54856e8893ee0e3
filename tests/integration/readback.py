"""Read back what Prefect stored about runs, to search it for secrets (canary tests).

:func:`read_back` returns, per source (flow runs, task runs, logs, artifacts, events), the JSON
texts the Prefect API holds; :func:`leaks` finds the needles in them. :func:`save_discord_block`
saves a ``PostflowDiscord`` block under a fresh name (tests share one Prefect server).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.events.filters import EventFilter, EventOccurredFilter
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

PAGE = 200


def save_discord_block(webhook_url: str) -> str:
    """Save a ``PostflowDiscord`` block posting to ``webhook_url`` under a fresh name; returns
    the name, for ``POSTFLOW_DISCORD_BLOCK``."""
    from blocks.discord import PostflowDiscord

    name = f"discord-{uuid.uuid4().hex[:12]}"
    PostflowDiscord(webhook_url=webhook_url, timeout_seconds=10).save(name)
    return name


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poll(read: Callable[[], list[Any]], ready: Callable[[list[Any]], bool]) -> list[Any]:
    """``read()`` until ``ready`` holds (the server records task runs and events async)."""
    deadline = time.monotonic() + 20
    items = read()
    while not ready(items) and time.monotonic() < deadline:
        time.sleep(0.5)
        items = read()
    return items


def _pages(read: Callable[[int], list[Any]]) -> list[Any]:
    out: list[Any] = []
    while True:
        page = read(len(out))
        out.extend(page)
        if len(page) < PAGE:
            return out


def _events_since(client: Any, since: datetime) -> list[Any]:
    """Every event since ``since`` (the API pages events by 50 at most)."""
    page = client.read_events(
        filter=EventFilter(occurred=EventOccurredFilter(since=since)), limit=50
    )
    events = list(page.events)
    while page.next_page:
        page = client.read_events_page(str(page.next_page))
        events.extend(page.events)
    return events


def read_back(
    run_ids: list[str],
    since: datetime,
    events_of: Callable[[str], bool] | None = None,
    expected_events: frozenset[str] = frozenset(
        {"postflow.upload.completed", "postflow.upload.failed"}
    ),
) -> dict[str, list[str]]:
    """Everything the Prefect API holds about the runs, as JSON texts per source."""
    APILogWorker.drain_all(timeout=15)
    EventsWorker.drain_all(timeout=15)
    runs = FlowRunFilter(id=FlowRunFilterId(any_=run_ids))
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(flow_run_filter=runs)
        task_runs = _poll(
            lambda: client.read_task_runs(flow_run_filter=runs, limit=PAGE),
            lambda items: {str(t.flow_run_id) for t in items} >= set(run_ids),
        )
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))
        logs = _pages(lambda at: client.read_logs(log_filter=log_filter, limit=PAGE, offset=at))
        artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        artifacts = client.read_artifacts(artifact_filter=artifact_filter)
        events = _poll(
            lambda: _events_since(client, since),
            lambda items: expected_events <= {e.event for e in items},
        )
    as_json = lambda items: [item.model_dump_json() for item in items]  # noqa: E731
    ours = [text for text in as_json(events) if any(run_id in text for run_id in run_ids)]
    if events_of is not None:
        ours += [text for text in as_json(events) if events_of(text) and text not in ours]
    return {
        "flow runs": as_json(flow_runs),
        "task runs": as_json(task_runs),
        "logs": as_json(logs),
        "artifacts": as_json(artifacts),
        "events": ours,  # those of our runs: the session's server also holds other tests'
    }


def leaks(texts: list[str], needles: list[str]) -> list[str]:
    """Each text that contains a needle, clipped around the first hit."""
    hits = []
    for text in texts:
        for needle in needles:
            at = text.find(needle)
            if at >= 0:
                hits.append(text[max(0, at - 300) : at + 100])
    return hits
