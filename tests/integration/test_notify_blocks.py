"""Two notification blocks for every message: the Discord receiver (the project's own block, rich
embeds) and a Slack-shaped loopback receiver behind Prefect's own ``CustomWebhookNotificationBlock``
(text), for the per-file messages, an automation's alert and the weekly report."""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from blocks.settings import PostflowTuning
from core.errors import ConfigurationError
from flows.ingest import ingest_file
from flows.report import weekly_optimisation_report
from postflow.setup.automations import apply_automations
from tasks.observe.alerts import RULES, Transition, emit_alert
from tests.integration.helpers import make_file
from tests.integration.readback import closed_port, save_discord_block
from tests.integration.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def slack():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def no_automations(prefect_harness):
    yield
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            client.delete_automation(automation.id)


def _broken_block() -> str:
    """A custom-webhook block whose receiver is gone (a closed loopback port)."""
    name = f"broken-{uuid.uuid4().hex[:10]}"
    url = f"http://127.0.0.1:{closed_port()}/services/T/B/X"
    CustomWebhookNotificationBlock(name="broken", url=url, json_data={"text": "{{body}}"}).save(
        name
    )
    return f"custom-webhook/{name}"


def test_per_file_messages_reach_both_blocks_past_a_failing_one(
    pipeline, postflow_env, slack, caplog
):
    broken, slack_block = _broken_block(), slack.save_block()
    postflow_env(notify_blocks=f"{broken},custom-webhook/postflow-test-absent,{slack_block}")
    good = make_file(pipeline.by_shot, "SC05_NOTIFY_00001_V001.mov", 20_000)
    assert ingest_file(str(good))["file_id"]
    bad = make_file(pipeline.by_shot, "NOT_A_SHOT_NAME.mov", 1_000)
    assert ingest_file(str(bad), return_state=True).is_failed()

    uploaded = slack.wait_for_text("SC05 / NOTIFY_00001 — V001 uploaded", 30)
    unreadable = slack.wait_for_text("Unreadable name: NOT_A_SHOT_NAME.mov", 30)
    embeds = [m["payload"]["embeds"][0] for m in pipeline.discord.wait_for(2, 30)]
    assert [e["title"] for e in embeds] == [uploaded.splitlines()[0], unreadable.splitlines()[0]]
    assert f"Frame.io: {embeds[0]['url']}" in uploaded.splitlines()
    warnings = [r for r in caplog.records if r.getMessage().startswith("Notification block ")]
    assert {r.getMessage() for r in warnings} >= {
        f"Notification block {broken}: ConnectError: message not sent",
        "Notification block custom-webhook/postflow-test-absent: no such notification block "
        "saved: message not sent",
    }
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)


def test_an_alert_reaches_both_blocks(prefect_harness, no_automations, discord, slack):
    alerts = save_discord_block(discord.webhook_url)
    apply_automations(
        f"postflow-discord/{alerts}", PostflowTuning(), extra_blocks=[slack.save_block()]
    )
    alert_id = f"notify-{uuid.uuid4().hex[:8]}"
    emit_alert(Transition(RULES[0], "fired", alert_id, figure=0.4, threshold=0.1), 300)

    text = slack.wait_for_text(f"Alert id: {alert_id}-fired", 90)
    [message] = discord.wait_for(1, 90)
    embed = message["payload"]["embeds"][0]
    assert text.startswith("RL PostFlow alert fired: Frame.io error rate\nFigure: ")
    assert embed["footer"]["text"] == f"Alert id: {alert_id}-fired"


def test_applying_with_a_missing_block_names_it_and_applies_nothing(
    prefect_harness, no_automations, discord
):
    alerts = save_discord_block(discord.webhook_url)
    with pytest.raises(ConfigurationError, match="slack-webhook/postflow-test-absent"):
        apply_automations(
            f"postflow-discord/{alerts}", extra_blocks=["slack-webhook/postflow-test-absent"]
        )
    with get_client(sync_client=True) as client:
        assert client.read_automations() == []


def test_every_alert_automation_notifies_each_block_once_after_two_applies(
    prefect_harness, no_automations, discord, slack
):
    alerts, extra = save_discord_block(discord.webhook_url), slack.save_block()
    for _ in range(2):
        names = apply_automations(f"postflow-discord/{alerts}", extra_blocks=[extra])
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
    sends = [
        [a.block_document_id for a in automation.actions if a.type == "send-notification"]
        for automation in automations
    ]
    assert sorted(a.name for a in automations) == sorted(names)
    assert all(len(ids) == 2 and len(set(ids)) == 2 for ids in sends)


def test_the_weekly_report_reaches_both_blocks_and_shows_its_chart(
    pipeline, postflow_env, slack, tmp_path: Path
):
    slack_block = slack.save_block()
    postflow_env(notify_blocks=slack_block)
    since = datetime.now(UTC) - timedelta(seconds=5)
    state = weekly_optimisation_report(
        since=since.isoformat(), out_dir=str(tmp_path / "reports"), return_state=True
    )
    result = state.result()

    text = slack.wait_for_text("Weekly optimisation report", 30)
    [message] = pipeline.discord.wait_for(1, 30)
    assert result["notified_blocks"] == [slack_block]
    assert message["payload"]["embeds"][0]["title"] == text.splitlines()[0]
    assert any(line.startswith("Error rate: ") for line in text.splitlines())
    assert text.splitlines()[-1].startswith("Chart and tables: http")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    by_key = {a.key: a for a in artifacts}
    chart = by_key["postflow-report-chart"].data
    encoded = chart.split("(data:image/png;base64,", 1)[1].rstrip(")\n")
    assert base64.b64decode(encoded) == Path(result["chart"]).read_bytes()
    assert by_key["postflow-report-figures"].type == "table"


def test_a_failed_ingest_reaches_an_alerts_block_that_is_not_discord(pipeline, postflow_env, slack):
    """Review finding: with the ingest-failed automation kept to crashed runs, an installation
    whose POSTFLOW_ALERTS_BLOCK is a Slack block (and no POSTFLOW_NOTIFY_BLOCKS) heard of no
    failed ingest. Seen failing: the receiver got nothing."""
    postflow_env(task_retries=0, alerts_block=slack.save_block())
    pipeline.sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
    bad = make_file(pipeline.by_shot, "SC05_ONCALL_00001_V001.mov", 20_000)
    assert ingest_file(str(bad), return_state=True).is_failed()
    assert "SC05_ONCALL_00001_V001.mov" in slack.wait_for_text("SC05_ONCALL", 30)


def test_a_run_without_a_path_says_so_in_one_message(pipeline):
    state = ingest_file("", return_state=True)
    assert state.is_failed() and "without a path" in state.message
    titles = [m["payload"]["embeds"][0]["title"] for m in pipeline.discord.messages]
    assert [t for t in titles if t.startswith("Ingest failed")] == ["Ingest failed: "]
