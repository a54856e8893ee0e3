"""The Discord edge (``blocks.discord``): errors never carry the webhook URL (its token is a
secret), neither in their text nor through a chained exception."""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback

import pytest
from discord_webhook import DiscordEmbed
from prefect.blocks.abstract import NotificationError as PrefectNotificationError

from blocks.discord import PostflowDiscord, redact_webhook_token
from core.errors import NotificationError

TOKEN = "tok-LEAK-canary-7Qx"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable() -> PostflowDiscord:
    url = f"http://127.0.0.1:{_closed_port()}/api/webhooks/1/{TOKEN}"
    return PostflowDiscord(webhook_url=url, timeout_seconds=2)


def _everything_about(error: BaseException) -> str:
    """What Prefect would log: the formatted traceback, chain included."""
    return "".join(traceback.format_exception(error)) + repr(error.__dict__)


def test_unreachable_discord_error_does_not_carry_the_webhook_token(unreachable):
    with pytest.raises(NotificationError) as caught:
        unreachable.send(DiscordEmbed(title="x"))
    assert "Discord unreachable" in str(caught.value)
    assert caught.value.transient
    assert TOKEN not in _everything_about(caught.value)


def test_notification_error_has_no_cause_and_no_context(unreachable):
    with pytest.raises(NotificationError) as caught:
        unreachable.send(DiscordEmbed(title="x"))
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_notify_outside_an_event_loop_sends_at_once(unreachable):
    with pytest.raises(NotificationError) as caught:
        unreachable.notify("body", subject="subject")
    assert caught.value.__context__ is None and TOKEN not in _everything_about(caught.value)


def test_notify_inside_an_event_loop_is_awaitable_like_prefects_server_needs(unreachable):
    async def as_the_automation_service_does() -> None:
        with unreachable.raise_on_failure():
            await unreachable.notify(subject="subject", body="body")

    with pytest.raises(PrefectNotificationError) as caught:
        asyncio.run(as_the_automation_service_does())
    assert caught.value.log == "Discord unreachable: ConnectionError"
    assert caught.value.__context__ is None
    assert TOKEN not in _everything_about(caught.value)


def test_webhook_url_is_masked_in_the_block():
    block = PostflowDiscord(webhook_url=f"https://discord.com/api/webhooks/1/{TOKEN}")
    assert TOKEN not in repr(block)
    assert TOKEN not in str(block.model_dump())


def test_redact_webhook_token_keeps_the_id():
    text = f"POST /api/webhooks/123/{TOKEN}?wait=true HTTP/1.1"
    assert redact_webhook_token(text) == "POST /api/webhooks/123/***?wait=true HTTP/1.1"


def test_urllib3_request_lines_are_redacted(caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    logging.getLogger("urllib3.connectionpool").debug(
        '%s "POST %s HTTP/1.1" 404 45', "http://x:1", f"/api/webhooks/1/{TOKEN}?wait=true"
    )
    assert caplog.records and TOKEN not in caplog.text
