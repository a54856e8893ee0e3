"""One Discord edge: a webhook token that fails to deliver appears nowhere.

The Discord block's webhook URL carries a canary token, and every path that posts through it
fails: an ingest (failure embed, Discord's port closed), the weekly report (summary embed,
Discord answering 404 Unknown Webhook) and an automation (the Prefect server loads the block
and awaits its ``notify``; port closed). Then everything Prefect stored (flow and task runs with
their state messages, logs, artifacts, every event since the test began) is read back through
the API, and every Python log record of this process (DEBUG and up, tracebacks included) is
searched: the canary must be in none of them.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from blocks.settings import PostflowTuning
from flows.ingest import ingest_file
from flows.report import weekly_optimisation_report
from postflow.setup.automations import apply_automations
from tests.integration.helpers import crashed_ingest_run, make_file
from tests.integration.readback import closed_port, leaks, read_back, save_discord_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANARY = f"canary-{secrets.token_hex(10)}"
FAILED = frozenset({"postflow.upload.failed"})  # the events a failing ingest emits


def _dead_webhook() -> str:
    return f"http://127.0.0.1:{closed_port()}/api/webhooks/4242/{CANARY}"


def _failing_ingest(pipeline: Any, name: str) -> str:
    pipeline.sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
    state = ingest_file(str(make_file(pipeline.by_shot, name, 20_000)), return_state=True)
    assert state.is_failed()
    return str(state.state_details.flow_run_id)


def _assert_no_canary(material: dict[str, list[str]]) -> None:
    for source, texts in material.items():
        hits = leaks(texts, [CANARY])
        assert not hits, f"the webhook token appears in {source}:\n" + "\n---\n".join(hits)


@pytest.fixture
def python_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="prefect")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


def test_ingest_and_report_paths_leak_no_webhook_token(
    pipeline, postflow_env, python_logs, tmp_path: Path
):
    since = datetime.now(UTC) - timedelta(seconds=5)
    postflow_env(discord_block=save_discord_block(_dead_webhook()), task_retries=1)
    run_ids = [_failing_ingest(pipeline, "SC07_CANARY_00100_V001.mov")]

    wrong_token = f"{pipeline.discord.url}/api/webhooks/{pipeline.discord.webhook_id}/{CANARY}"
    postflow_env(discord_block=save_discord_block(wrong_token))  # the receiver answers 404
    report = weekly_optimisation_report(
        since=since.isoformat(), out_dir=str(tmp_path / "reports"), return_state=True
    )
    assert report.result()["discord_sent"] is False
    run_ids.append(str(report.state_details.flow_run_id))

    material = read_back(
        run_ids,
        since,
        events_of=lambda text: True,  # every event since: the canary is this test's alone
        expected_events=FAILED,
    )
    material["python logging"] = [python_logs.handler.format(r) for r in python_logs.records]
    logs = "\n".join(material["logs"])
    assert "Discord notification not sent: Discord unreachable" in logs  # the ingest path
    assert "Discord summary not sent: Discord answered HTTP 404" in logs  # the report path
    assert pipeline.discord.messages == []
    _assert_no_canary(material)


def _action_failures(since: datetime) -> list[Any]:
    with get_client(sync_client=True) as client:
        page = client.read_events(
            filter=EventFilter(
                occurred=EventOccurredFilter(since=since),
                event=EventNameFilter(name=["prefect.automation.action.failed"]),
            ),
            limit=50,
        )
    return list(page.events)


def test_automation_path_leaks_no_webhook_token(pipeline, postflow_env, python_logs):
    since = datetime.now(UTC) - timedelta(seconds=5)
    alerts = save_discord_block(_dead_webhook())
    postflow_env(task_retries=0)
    try:
        apply_automations(f"postflow-discord/{alerts}", PostflowTuning())
        run_ids = [_failing_ingest(pipeline, f"SC07_ALERT_{uuid.uuid4().int % 10**5:05d}_V001.mov")]
        crashed_ingest_run("ingest SC07_CRASH_00001_V001.mov")  # the automation's trigger
        deadline = time.monotonic() + 90
        while not (failures := _action_failures(since)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        with get_client(sync_client=True) as client:
            for automation in client.read_automations():
                client.delete_automation(automation.id)

    assert failures, "the automation's notification never failed: nothing was checked"
    payload = failures[0].payload
    assert payload["reason"] == "Notification failed"
    assert payload["notification_log"] == "Discord unreachable: ConnectionError"
    material = read_back(
        run_ids,
        since,
        events_of=lambda text: True,
        expected_events=FAILED,
    )
    material["action failures"] = [json.dumps(f.payload) for f in failures]
    material["python logging"] = [python_logs.handler.format(r) for r in python_logs.records]
    _assert_no_canary(material)


def test_a_missing_block_turns_messages_off_and_is_logged_once(prefect_harness, caplog):
    from discord_webhook import DiscordEmbed

    from tasks.notify.discord import notify_discord

    name = f"absent-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.INFO, logger="postflow.notify")  # outside a run: stdlib logger
    sent = [notify_discord.fn(name, DiscordEmbed(title="x")) for _ in range(2)]
    logged = [r.getMessage() for r in caplog.records if r.name == "postflow.notify"]
    assert sent == [False, False]
    assert [line.count(name) for line in logged] == [1]
