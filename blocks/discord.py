"""The one Discord edge of RL PostFlow: a Prefect notification block for a Discord webhook.

:class:`PostflowDiscord` serves two callers with one saved document:

* the pipeline's rich messages (per-file embeds, the weekly report with its chart attached)
  through :meth:`PostflowDiscord.send`, with the ``discord-webhook`` library;
* Prefect automations, whose ``send-notification`` action loads the block on the *server*
  and awaits ``block.notify(subject=..., body=...)`` inside ``block.raise_on_failure()``
  (``prefect/server/events/actions.py::SendNotification.act``). :meth:`PostflowDiscord.notify`
  therefore follows Prefect's contract (``prefect.blocks.abstract.NotificationBlock``): it
  returns an awaitable when called from a running event loop, sends at once otherwise, and
  raises Prefect's ``NotificationError`` while ``raise_on_failure`` is active, so the server
  records a failed action instead of retrying the message. The server must be able to import
  this module: the ``prefect.collections`` entry point of ``pyproject.toml`` names it.

The webhook URL is a secret (its last path segment lets anyone post). Only :meth:`send` and
:meth:`notify` unwrap it, and every failure is mapped here, once, to
:class:`core.errors.NotificationError` whose message never holds the URL and which carries
neither ``__cause__`` nor ``__context__`` (a chained ``requests`` error quotes the URL, and
Prefect logs a failed task's whole traceback). urllib3 logs request paths at DEBUG, so its
records are redacted too.

Discord's webhook API: https://discord.com/developers/docs/resources/webhook#execute-webhook
Prefect notification blocks and automations:
https://docs.prefect.io/v3/concepts/automations

Example:
    >>> PostflowDiscord(webhook_url="https://discord.com/api/webhooks/1/abc").save(
    ...     "postflow-discord"
    ... )  # doctest: +SKIP
    >>> PostflowDiscord.load("postflow-discord").send(DiscordEmbed(title="hi"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from http.client import HTTPException
from pathlib import Path
from typing import Any

import requests
from discord_webhook import DiscordEmbed, DiscordWebhook
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.abstract import NotificationError as PrefectNotificationError
from pydantic import Field, HttpUrl, SecretStr

from blocks.sent_keys import default_sent_keys
from config.settings import DISCORD_BLOCK_SLUG
from core.errors import NotificationError

__all__ = [
    "DISCORD_BLOCK_SLUG",
    "PostflowDiscord",
    "alert_embed",
    "alert_key",
    "redact_webhook_token",
]

MAX_CONTENT_CHARS = 2000  # Discord refuses longer message content
_WEBHOOK_TOKEN = re.compile(r"(/webhooks/[^/\s]+/)[^/?\s\"'#]+")
_ALERT_ID = re.compile(r"^Alert id: *(\S+) *$", re.MULTILINE)
_FIELD = re.compile(r"^([A-ZÀ-Ý][A-Za-zÀ-ÿ ]{1,30}): *(.+)$")
# The figure and threshold field names of an alert body, per language
# (postflow/setup/alert_templates.py); the check field is not inline.
_ALERT_FIELDS = ({"Figure", "Threshold"}, {"Valeur", "Seuil"})
_CHECK_FIELDS = frozenset({"Check", "À vérifier"})
_CALM_WORDS = ("resolved", "closed", "résolue", "refermé")
RED, GREEN = "e74c3c", "2ecc71"


def alert_key(body: str) -> str | None:
    """The idempotency key of a notification: its ``Alert id: <key>`` line, or None."""
    match = _ALERT_ID.search(body)
    return match.group(1) if match else None


def alert_embed(subject: str, body: str) -> DiscordEmbed | None:
    """An embed for a live alert (the previous generation's style: figure, threshold, what
    to check), or None when ``body`` has no ``Figure:`` and ``Threshold:`` lines (in French,
    ``Valeur:`` and ``Seuil:``).

    Each ``Name: value`` line of ``body`` becomes a field; ``Alert id`` goes to the footer. Red
    while firing, green when ``subject`` says resolved or closed (résolue, refermé).
    """
    fields = [m.groups() for m in map(_FIELD.match, body.splitlines()) if m]
    names = {name for name, _ in fields}
    if not any(wanted <= names for wanted in _ALERT_FIELDS):
        return None
    calm = any(word in subject.lower() for word in _CALM_WORDS)
    embed = DiscordEmbed(title=subject[:256], color=GREEN if calm else RED)
    for name, value in fields:
        if name == "Alert id":
            embed.set_footer(text=f"Alert id: {value}"[:2048])
        else:
            embed.add_embed_field(name=name, value=value[:1024], inline=name not in _CHECK_FIELDS)
    return embed


def redact_webhook_token(text: str) -> str:
    """``text`` with the token of every webhook URL in it replaced by ``***``."""
    return _WEBHOOK_TOKEN.sub(r"\1***", text)


class _RedactWebhookToken(logging.Filter):
    """urllib3 logs each request path (DEBUG) and retries (WARNING); the path holds the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message:
            record.msg, record.args = redact_webhook_token(message), None
        return True


for _name in ("urllib3.connectionpool", "discord_webhook.webhook"):
    logging.getLogger(_name).addFilter(_RedactWebhookToken())


class PostflowDiscord(NotificationBlock):
    """A Discord webhook: rich embeds for the pipeline, plain notifications for automations.

    Attributes:
        webhook_url: ``https://discord.com/api/webhooks/<id>/<token>`` (a secret).
        username: name shown as the author of the messages.
        timeout_seconds: HTTP timeout of one post.

    Example:
        >>> PostflowDiscord(webhook_url="https://discord.com/api/webhooks/1/abc").save(
        ...     "postflow-discord"
        ... )  # doctest: +SKIP
    """

    _block_type_name = "PostFlow Discord"
    _block_type_slug = DISCORD_BLOCK_SLUG
    _logo_url = HttpUrl(  # the logo Prefect's own DiscordWebhook block uses
        "https://raw.githubusercontent.com/PrefectHQ/prefect/420d0d6a78bb6df1fc18bcf188fdad43c1d22ea9/assets/block-logos/discord.png"
    )
    _documentation_url = HttpUrl("https://discord.com/developers/docs/resources/webhook")
    _description = (
        "Discord webhook of RL PostFlow: per-file embeds, the weekly report and the "
        "automations' alerts (send-notification actions)."
    )

    webhook_url: SecretStr = Field(
        ...,
        title="Webhook URL",
        description="https://discord.com/api/webhooks/<id>/<token>; a secret: it lets anyone post.",
    )
    username: str = Field("RL PostFlow", description="Name shown on the messages.")
    timeout_seconds: float = Field(30.0, gt=0, le=300, description="HTTP timeout of one post.")

    def send(self, embed: DiscordEmbed | dict[str, Any], file: Path | None = None) -> str | None:
        """Post one embed, with ``file`` attached when given (multipart ``payload_json``).

        Discord's 429 answers are waited out (``rate_limit_retry``). The post asks for the
        message back (``?wait=true``, the library's default) and returns its id, so the message
        can be edited later (:meth:`edit`).

        Args:
            embed: the message (a ``DiscordEmbed`` or the JSON object Discord takes).
            file: a file to attach (the report's chart); the embed may show it with
                ``attachment://<file name>``.

        Returns:
            The Discord message id, or None when the answer had none.

        Raises:
            NotificationError: Discord refused it (4xx: permanent) or could not be reached
                (network, 5xx: transient); no URL in its text, nothing chained.
        """
        webhook = self._webhook()
        webhook.add_embed(embed)
        if file is not None:
            webhook.add_file(file=file.read_bytes(), filename=file.name)
        self._execute(webhook)
        return str(webhook.id) if webhook.id else None

    def edit(self, message_id: str, embed: DiscordEmbed | dict[str, Any]) -> None:
        """Replace the embed of a message this webhook posted
        (``PATCH /webhooks/{id}/{token}/messages/{message_id}``, Discord's "Edit Webhook
        Message").

        Raises:
            NotificationError: as :meth:`send` (404 when the message is gone: permanent).
        """
        webhook = self._webhook()
        webhook.id = message_id
        webhook.add_embed(embed)
        self._execute(webhook, edit=True)

    def notify(self, body: str, subject: str | None = None) -> Awaitable[None] | None:  # type: ignore[override]
        """Post ``subject`` and ``body`` as one plain message (Prefect's notification contract).

        Returns:
            An awaitable when called from a running event loop (Prefect's automation service
            awaits it); None once sent otherwise.

        Raises:
            NotificationError: as :meth:`send`; Prefect's ``NotificationError`` (with the
                redacted reason as its ``log``) while ``raise_on_failure()`` is active.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_event_loop = False
        else:
            in_event_loop = True
        if in_event_loop:
            return asyncio.to_thread(self._notify_now, body, subject)
        self._notify_now(body, subject)  # outside the handler: no __context__
        return None

    def _notify_now(self, body: str, subject: str | None) -> None:
        key = alert_key(body)
        if key is not None and self._block_document_id is not None:
            key = f"{self._block_document_id}:{key}"  # each channel (block) gets it once
        if key is not None and not default_sent_keys().claim(key):
            return  # the same incident's message, delivered again by Prefect: sent once
        webhook = self._webhook()
        embed = alert_embed(subject or "", body)
        if embed is not None:
            webhook.add_embed(embed)
        else:
            text = f"{subject}\n{body}" if subject else body
            if len(text) > MAX_CONTENT_CHARS:
                text = text[: MAX_CONTENT_CHARS - 1] + "…"
            webhook.set_content(text)
        try:
            self._execute(webhook)
        except NotificationError as exc:
            if key is not None:
                default_sent_keys().release(key)
            if not self._raise_on_failure:
                raise
            failure = PrefectNotificationError(log=str(exc))
        else:
            return
        raise failure  # outside the handler: no __context__ either

    def _webhook(self) -> DiscordWebhook:
        return DiscordWebhook(
            url=self.webhook_url.get_secret_value(),
            username=self.username,
            rate_limit_retry=True,
            timeout=self.timeout_seconds,
        )

    @staticmethod
    def _execute(webhook: DiscordWebhook, *, edit: bool = False) -> None:
        """Post (or edit) and map every failure to one clean :class:`NotificationError`."""
        failure: NotificationError | None = None
        try:
            response = webhook.edit() if edit else webhook.execute()
        except requests.RequestException as exc:  # its text quotes the URL: only the type
            failure = NotificationError(f"Discord unreachable: {type(exc).__name__}")
        except (ValueError, AttributeError, HTTPException):  # non-JSON answer, 429 loop
            failure = NotificationError("Discord sent an unexpected answer", status_code=502)
        else:
            if response.status_code >= 300:
                failure = NotificationError(
                    f"Discord answered HTTP {response.status_code}",
                    status_code=response.status_code,
                )
        if failure is not None:
            raise failure  # raised outside the handlers: no __cause__, no __context__
