"""No secret value reaches Prefect's logs, run parameters, task runs, artifacts or events.

The sandbox gets a distinctive client secret and the Discord receiver a distinctive webhook
token; then real ingests run through the Prefect test server: one that lands, one refused by
Frame.io (403), one with an unreadable name and one whose Discord webhook is unreachable (so
the notification's error path, with the webhook URL in the transport error, is covered too).
Everything Prefect stored about those runs is read back through its API and searched for the
secrets, as is every Python log record emitted meanwhile (DEBUG and up).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
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

from flows.ingest import ingest_file
from tests.integration.helpers import make_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_SECRET = f"cs-{secrets.token_hex(12)}-never-log-me"
WEBHOOK_TOKEN = f"wt-{secrets.token_hex(12)}-never-log-me"
TOKEN_PREFIXES = ("sbx-at-", "sbx-rt-")  # every access/refresh token the sandbox issues
PAGE = 200


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """The conftest sandbox, but accepting only ``CLIENT_SECRET``."""
    from postflow.sandbox.server import SandboxServer

    server = SandboxServer(tmp_path / "sandbox", target_part_bytes=256 * 1024)
    server.config = dataclasses.replace(server.config, client_secret=CLIENT_SECRET)
    with server:
        yield server


@pytest.fixture
def discord() -> Iterator[Any]:
    """The conftest Discord receiver, but with ``WEBHOOK_TOKEN`` in its webhook URL."""
    from postflow.sandbox.discord_receiver import DiscordReceiver

    with DiscordReceiver(webhook_token=WEBHOOK_TOKEN) as receiver:
        yield receiver


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(path: Path) -> str:
    """Ingest ``path`` as a real flow run; its flow run id."""
    state = ingest_file(str(path), return_state=True)
    return str(state.state_details.flow_run_id)


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


def _read_back(run_ids: list[str], since: datetime) -> dict[str, list[str]]:
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
            lambda items: (
                {"postflow.upload.completed", "postflow.upload.failed"} <= {e.event for e in items}
            ),
        )
    as_json = lambda items: [item.model_dump_json() for item in items]  # noqa: E731
    ours = [text for text in as_json(events) if any(run_id in text for run_id in run_ids)]
    return {
        "flow runs": as_json(flow_runs),
        "task runs": as_json(task_runs),
        "logs": as_json(logs),
        "artifacts": as_json(artifacts),
        "events": ours,  # those of our runs: the session's server also holds other tests'
    }


def _leaks(texts: list[str], needles: list[str]) -> list[str]:
    """Each text that contains a needle, clipped around the first hit."""
    hits = []
    for text in texts:
        for needle in needles:
            at = text.find(needle)
            if at >= 0:
                hits.append(text[max(0, at - 300) : at + 100])
    return hits


def test_no_secret_in_prefect_runs_logs_artifacts_events_or_python_logs(
    pipeline, postflow_env, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="prefect")
    since = datetime.now(UTC) - timedelta(seconds=5)
    good = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V002.mov", 300_000)
    run_ids = [_run(good)]
    pipeline.sandbox.inject_status(403, count=50, path=r".*/files/local_upload$")
    run_ids.append(_run(make_file(pipeline.by_shot, "SC02_UNDLM_00500_V001.mov", 100_000)))
    run_ids.append(_run(make_file(pipeline.by_shot, "RANDOM_RENDER_FINAL.mov", 10_000)))
    assert len(pipeline.discord.wait_for(3, timeout_seconds=10)) == 3
    receiver = pipeline.discord
    unreachable = receiver.webhook_url.replace(receiver.url, f"http://127.0.0.1:{_closed_port()}")
    assert WEBHOOK_TOKEN in unreachable
    postflow_env(discord_webhook_url=unreachable)
    run_ids.append(_run(make_file(pipeline.by_shot, "SC03_UNDLM_00600_V001.mov", 50_000)))

    issued = [row["token"] for row in pipeline.sandbox.state.db.query("SELECT token FROM tokens")]
    assert issued, "the sandbox issued no token: the client secret was never used"
    needles = [CLIENT_SECRET, WEBHOOK_TOKEN, *issued, *TOKEN_PREFIXES]
    material = _read_back(run_ids, since)
    # every record from DEBUG up, formatted as caplog shows it (tracebacks included)
    material["python logging"] = [caplog.handler.format(record) for record in caplog.records]

    for source, texts in material.items():
        assert texts and all(texts), f"read back no {source}: the check would pass vacuously"
    assert any('"path"' in text for text in material["flow runs"])  # parameters were read
    assert any("Ingest of" in text and "failed" in text for text in material["logs"])
    assert any("postflow.upload.failed" in text for text in material["events"])
    for source, texts in material.items():
        hits = _leaks(texts, needles)
        assert not hits, f"a secret value appears in {source}:\n" + "\n---\n".join(hits)
