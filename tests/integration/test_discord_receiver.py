"""The local Discord webhook receiver, driven by the `discord-webhook` package and plain httpx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from discord_webhook import DiscordEmbed, DiscordWebhook

from postflow.sandbox.discord_receiver import DiscordReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def discord() -> Iterator[DiscordReceiver]:
    with DiscordReceiver() as receiver:
        yield receiver


def test_embed_message_is_received(discord: DiscordReceiver) -> None:
    webhook = DiscordWebhook(url=discord.webhook_url, username="PostFlow", timeout=10)
    embed = DiscordEmbed(title="SHOT_010 uploaded", description="v002 is up", color="03b2f8")
    embed.add_embed_field(name="Size", value="1.2 GB")
    webhook.add_embed(embed)
    response = webhook.execute()
    (message,) = discord.wait_for(1)
    (received,) = message["payload"]["embeds"]
    assert response.status_code == 200 and response.json()["webhook_id"] == discord.webhook_id
    assert (received["title"], received["description"]) == ("SHOT_010 uploaded", "v002 is up")
    assert received["fields"] == [{"name": "Size", "value": "1.2 GB", "inline": True}]
    assert message["payload"]["username"] == "PostFlow" and message["files"] == {}


def test_file_attachment_is_received_byte_exact(discord: DiscordReceiver) -> None:
    data = bytes(range(256)) * 40 + b"\r\n--tricky--\r\n"
    webhook = DiscordWebhook(url=discord.webhook_url, content="weekly report", timeout=10)
    webhook.add_file(file=data, filename="report.csv")
    response = webhook.execute()
    (message,) = discord.wait_for(1)
    (attachment,) = response.json()["attachments"]
    assert message["files"] == {"report.csv": data}
    assert message["payload"]["content"] == "weekly report"
    assert (attachment["filename"], attachment["size"]) == ("report.csv", len(data))
    assert httpx.get(attachment["url"]).content == data


def test_call_without_wait_is_answered_204(discord: DiscordReceiver) -> None:
    response = httpx.post(discord.webhook_url, json={"content": "no wait"})
    assert response.status_code == 204
    assert discord.wait_for(1)[0]["payload"] == {"content": "no wait"}


def test_rate_limited_call_is_retried_by_discord_webhook(discord: DiscordReceiver) -> None:
    discord.rate_limit_next(1, retry_after_seconds=0.05)
    webhook = DiscordWebhook(
        url=discord.webhook_url, content="after 429", rate_limit_retry=True, timeout=10
    )
    response = webhook.execute()
    assert response.status_code == 200
    assert discord.rate_limited_count == 1
    assert [m["payload"]["content"] for m in discord.wait_for(1)] == ["after 429"]


def test_rate_limit_answer_looks_like_discord(discord: DiscordReceiver) -> None:
    discord.rate_limit_next(1, retry_after_seconds=1.5)
    response = httpx.post(discord.webhook_url, params={"wait": "true"}, json={"content": "x"})
    assert response.status_code == 429
    assert response.json()["retry_after"] == 1.5
    assert response.headers["retry-after"] == "2"
    assert discord.messages == []


def test_empty_message_is_refused(discord: DiscordReceiver) -> None:
    response = httpx.post(discord.webhook_url, json={"embeds": []})
    assert response.status_code == 400
    assert response.json()["code"] == 50006
    assert discord.messages == []


def test_content_over_2000_characters_is_refused(discord: DiscordReceiver) -> None:
    response = httpx.post(discord.webhook_url, json={"content": "x" * 2001})
    assert response.status_code == 400
    assert response.json()["code"] == 50035


def test_unknown_webhook_token_is_404(discord: DiscordReceiver) -> None:
    wrong = discord.webhook_url.rsplit("/", 1)[0] + "/not-the-token"
    response = httpx.post(wrong, json={"content": "x"})
    assert response.status_code == 404
    assert response.json() == {"message": "Unknown Webhook", "code": 10015}


def test_wait_for_raises_when_too_few_messages_arrive(discord: DiscordReceiver) -> None:
    httpx.post(discord.webhook_url, json={"content": "only one"})
    with pytest.raises(TimeoutError):
        discord.wait_for(2, timeout_seconds=0.05)
    assert len(discord.messages) == 1


def test_clear_forgets_messages(discord: DiscordReceiver) -> None:
    httpx.post(discord.webhook_url, json={"content": "old"})
    discord.wait_for(1)
    discord.clear()
    assert discord.messages == []


def test_a_webhook_message_is_edited_in_place_and_others_are_unknown(discord):
    from blocks.discord import PostflowDiscord
    from core.errors import NotificationError

    block = PostflowDiscord(webhook_url=discord.webhook_url)
    message_id = block.send(DiscordEmbed(title="uploaded"))
    block.edit(message_id, {"title": "uploaded · playable"})

    [message] = discord.messages
    assert (message["id"], message["edits"]) == (message_id, 1)
    assert message["payload"]["embeds"] == [{"title": "uploaded · playable"}]
    with pytest.raises(NotificationError, match="HTTP 404"):
        block.edit("1234", {"title": "nope"})
