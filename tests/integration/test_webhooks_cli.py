"""``postflow webhooks install | status | remove`` against the sandbox and the Prefect test
server: idempotent, the secret kept in a block, other webhooks never touched."""

from __future__ import annotations

import json
import uuid

import pytest
from frameio.webhooks import WebhookCreateParamsData
from typer.testing import CliRunner

from blocks.frameio_webhook import FrameioWebhook
from postflow.cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()
URL = "https://review.example.test/frameio/webhook"


@pytest.fixture
def cli(pipeline, postflow_env):
    """``cli("webhooks", "status")`` -> the parsed --json answer; a fresh block name per test
    (the Prefect server is shared)."""
    block = f"webhook-{uuid.uuid4().hex[:10]}"
    postflow_env(review_webhook_url=URL, review_webhook_block=block)

    def run(*args: str) -> dict:
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    run.block = block
    return run


def _hooks(pipeline) -> list:
    project = pipeline.project()
    return list(project.client.webhooks.index(project.account_id, pipeline.sandbox.workspace_id))


def test_install_creates_once_and_keeps_the_secret(cli, pipeline):
    first = cli("webhooks", "install")
    second = cli("webhooks", "install")
    status = cli("webhooks", "status")

    assert (first["action"], second["action"]) == ("created", "kept")
    [hook] = _hooks(pipeline)
    assert status["webhooks"][0]["id"] == hook.id and hook.url == URL
    saved = FrameioWebhook.load(cli.block)
    assert saved.webhook_id == hook.id and len(saved.signing_secret()) == 64
    assert "secret" not in json.dumps(status).lower().replace("secret_saved", "")


def test_install_follows_a_new_url_and_leaves_other_webhooks_alone(cli, pipeline, postflow_env):
    project = pipeline.project()
    other = project.client.webhooks.create(
        project.account_id,
        pipeline.sandbox.workspace_id,
        data=WebhookCreateParamsData(name="someone else's", url=URL, events=["file.ready"]),
    ).data
    cli("webhooks", "install")
    secret = FrameioWebhook.load(cli.block).signing_secret()
    postflow_env(review_webhook_url="https://moved.example.test/frameio/webhook")

    moved = cli("webhooks", "install")

    assert moved["action"] == "updated" and moved["others"] == 1
    assert FrameioWebhook.load(cli.block).signing_secret() == secret  # Frame.io keeps it
    urls = {h.id: h.url for h in _hooks(pipeline)}
    assert urls[other.id] == URL and len(urls) == 2


def test_remove_deletes_ours_and_its_secret_then_has_nothing_to_do(cli, pipeline):
    cli("webhooks", "install")

    removed = cli("webhooks", "remove")
    again = cli("webhooks", "remove")

    assert (removed["action"], again["action"]) == ("removed", "nothing")
    assert _hooks(pipeline) == []
    with pytest.raises(ValueError):
        FrameioWebhook.load(cli.block)


def test_a_lost_secret_means_the_webhook_is_made_again(cli, pipeline):
    cli("webhooks", "install")
    FrameioWebhook.delete(cli.block)

    again = cli("webhooks", "install")

    assert again["action"] == "recreated"
    [hook] = _hooks(pipeline)
    assert FrameioWebhook.load(cli.block).webhook_id == hook.id


def test_install_without_a_public_url_says_what_to_set(cli, postflow_env):
    postflow_env(review_webhook_url="")
    result = runner.invoke(app, ["webhooks", "install"])
    assert result.exit_code == 2
    assert "POSTFLOW_REVIEW_WEBHOOK_URL" in result.output


def test_installed_and_served_a_comment_reaches_discord(cli, pipeline, postflow_env):
    """The production wiring: `install` saves the secret, `serve`'s receiver reads it."""
    import threading

    from config.settings import PostflowSettings
    from flows.ingest import ingest_file
    from tasks.review.service import ReviewService
    from tests.integration.helpers import make_file
    from tests.integration.scale_out_peers import free_port

    port = free_port()
    postflow_env(
        review_webhook_url=f"http://127.0.0.1:{port}/frameio/webhook",
        review_receiver_port=port,
        review_poll_interval_seconds=0,
    )
    file_id = ingest_file(str(make_file(pipeline.by_shot, "SC01_UNDLM_00412_V002.mov", 1000)))[
        "file_id"
    ]
    pipeline.discord.wait_for(1)
    assert cli("webhooks", "install")["action"] == "created"
    service = ReviewService(PostflowSettings())
    ready = threading.Event()
    thread = threading.Thread(target=service.run, args=(lambda _: ready.set(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(30)
        pipeline.sandbox.review.comment(file_id, "Served", owner="Director")
        [_, reply] = pipeline.discord.wait_for(2, timeout_seconds=30)
    finally:
        service.stop()
        thread.join(30)
    assert reply["payload"]["embeds"][0]["description"] == "Served"
    assert service.receiver is not None and service.receiver.counts["refused"] == 0


def test_the_secret_is_read_again_after_a_reinstall(cli, pipeline):
    from config.settings import PostflowSettings
    from tasks.review.service import saved_secret

    cli("webhooks", "install")
    secret = saved_secret(PostflowSettings(), ttl_seconds=0)
    first = secret()
    FrameioWebhook.delete(cli.block)
    cli("webhooks", "install")  # recreated: a new secret
    assert secret() != first and secret() == FrameioWebhook.load(cli.block).signing_secret()
