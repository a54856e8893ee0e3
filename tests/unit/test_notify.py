"""Discord notifications: errors never carry the webhook URL (its token is a secret)."""

from __future__ import annotations

import socket
import traceback

import pytest
from discord_webhook import DiscordEmbed
from pydantic import SecretStr

from core.errors import NotificationError
from tasks.notify import send_embed

TOKEN = "tok-LEAK-canary-7Qx"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_discord_error_does_not_carry_the_webhook_token():
    url = f"http://127.0.0.1:{_closed_port()}/api/webhooks/1/{TOKEN}"
    with pytest.raises(NotificationError) as caught:
        send_embed(SecretStr(url), DiscordEmbed(title="x"), timeout_seconds=2)
    logged = "".join(traceback.format_exception(caught.value))  # what Prefect would log
    assert "Discord unreachable" in logged
    assert TOKEN not in logged


def test_no_webhook_url_disables_sending():
    assert send_embed(None, DiscordEmbed(title="x")) is False
