"""The extra notification blocks (``POSTFLOW_NOTIFY_BLOCKS``): every message as text too.

The Discord block (:mod:`blocks.discord`) keeps the rich embeds. Each block named in
``PostflowSettings.notify_blocks`` - any Prefect notification block: ``SlackWebhook``,
``MicrosoftTeamsWebhook``, ``SendgridEmail``, ``CustomWebhookNotificationBlock``... - gets the
same message in a text form (:func:`text_form`: the embed's title as the subject, its
description and fields as ``Name: value`` lines, its link) through the block's own
``notify(body, subject)``. The embed stays the one source of the words (and of their
language, :mod:`tasks.notify.messages`).

:func:`notify_blocks` sends to each block in turn: a block that is not saved, cannot be
reached or refuses the message is a warning naming it (no traceback: an HTTP error's text
quotes the webhook URL, a secret), and never stops the others or the flow.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence

import httpx
from discord_webhook import DiscordEmbed
from prefect import get_run_logger, task
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.abstract import NotificationError as PrefectNotificationError
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from prefect.utilities.asyncutils import run_coro_as_sync

import blocks.discord  # noqa: F401 - registers PostflowDiscord: Block.load finds types by slug
from core.errors import NotificationError

__all__ = ["notify_blocks", "send_text", "text_form"]

_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((\S+?)\)")


def _plain(text: str) -> str:
    """Discord markdown made plain: ``[label](url)`` -> ``url``, no backticks."""
    return _MARKDOWN_LINK.sub(r"\2", text).replace("`", "")


def text_form(embed: DiscordEmbed) -> tuple[str, str]:
    """The text form of a Discord embed, for a block that shows text only.

    Args:
        embed: the message as Discord gets it.

    Returns:
        ``(subject, body)``: the title; then the description, one ``Name: value`` line per
        field, the footer and the embed's link (unless a field already holds it).

    Example:
        >>> embed = DiscordEmbed(title="SC01 / UNDLM — V002 uploaded", url="https://f.io/v")
        >>> embed.add_embed_field(name="Size", value="1.2 GB")
        >>> text_form(embed)
        ('SC01 / UNDLM — V002 uploaded', 'Size: 1.2 GB\\nhttps://f.io/v')
    """
    lines = [_plain(embed.description)] if embed.description else []
    lines += [f"{_plain(f['name'])}: {_plain(f['value'])}" for f in embed.fields or []]
    footer = (embed.footer or {}).get("text")
    if footer:
        lines.append(_plain(footer))
    body = "\n".join(lines)
    if embed.url and embed.url not in body:
        lines.append(embed.url)
    return _plain(embed.title or ""), "\n".join(lines)


def send_text(ref: str, subject: str, body: str) -> None:
    """Send ``subject`` and ``body`` through the saved notification block ``ref``.

    Args:
        ref: ``<block-type-slug>/<block-name>``.
        subject: the subject (title) of the message.
        body: its text.

    Raises:
        NotificationError: no such block, not a notification block, or it failed to send;
            its text names the block and the reason, never the block's URL.
    """
    try:
        block = Block.load(ref)
    except ValueError:
        block = None
    except Exception as exc:  # noqa: BLE001 - the Prefect API away: this block's failure only
        raise NotificationError(f"{ref}: not loaded ({type(exc).__name__})") from None
    if not isinstance(block, NotificationBlock):
        raise NotificationError(f"{ref}: no such notification block saved")
    failure: str | None = None
    try:
        with block.raise_on_failure():
            sent = block.notify(body, subject)
            if inspect.isawaitable(sent):
                run_coro_as_sync(sent)
    except httpx.HTTPStatusError as exc:
        failure = f"{ref}: answered HTTP {exc.response.status_code}"
    except (PrefectNotificationError, NotificationError):
        failure = f"{ref}: refused or unreachable"
    except Exception as exc:  # noqa: BLE001 - any block's own error; its text may hold a URL
        failure = f"{ref}: {type(exc).__name__}"
    if failure is not None:
        raise NotificationError(failure)  # outside the handlers: nothing chained


@task(name="notify-blocks", cache_policy=NO_CACHE)
def notify_blocks(refs: Sequence[str], subject: str, body: str) -> list[str]:
    """Send one text message to each notification block of ``refs``.

    Args:
        refs: ``<block-type-slug>/<block-name>`` of each block (``settings.notify_blocks``).
        subject: the subject (title).
        body: the text (:func:`text_form`).

    Returns:
        The refs that took the message; each other one is logged as a warning.
    """
    sent = []
    for ref in refs:
        try:
            send_text(ref, subject, body)
        except NotificationError as exc:
            get_run_logger().warning("Notification block %s: message not sent", exc)
        else:
            sent.append(ref)
    return sent
