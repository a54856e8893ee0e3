"""Discord messages for each ingest, sent with the ``discord-webhook`` library.

Three embeds: a green one per uploaded file (scene, shot, version, size, duration, MB/s,
Frame.io link), a red one per failed ingest, and an orange one per file whose name the
nomenclature cannot read. With no webhook URL configured, nothing is sent and nothing fails.
Discord's 429 answers are waited out by the library (``rate_limit_retry=True``).
"""

from __future__ import annotations

import logging
import re

import requests
from discord_webhook import DiscordEmbed, DiscordWebhook
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from core.errors import NamingError, NotificationError, PostflowError
from core.units import human_bytes
from tasks.naming import ShotName
from tasks.upload import UploadResult

GREEN, RED, ORANGE = "2ecc71", "e74c3c", "e67e22"
log = logging.getLogger("postflow.notify")

_WEBHOOK_TOKEN = re.compile(r"(/api/webhooks/[^/\s]+/)[^/?\s\"']+")


class _RedactWebhookToken(logging.Filter):
    """urllib3 logs each request path at DEBUG, and a webhook's path holds its token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message:
            record.msg, record.args = _WEBHOOK_TOKEN.sub(r"\1***", message), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactWebhookToken())


def _clip(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def success_embed(shot: ShotName, result: UploadResult) -> DiscordEmbed:
    """Green embed for an uploaded (or already present) file, linking to Frame.io."""
    verb = "already in Frame.io" if result.strategy == "skipped" else "uploaded"
    embed = DiscordEmbed(
        title=_clip(f"{shot.scene} / {shot.shot} — V{shot.version:03d} {verb}", 250),
        description=_clip(f"`{shot.file}`"),
        color=GREEN,
        url=result.view_url,
    )
    fields = {
        "Scene": shot.scene,
        "Shot": shot.shot,
        "Version": f"V{shot.version:03d}",
        "Size": human_bytes(result.size_bytes),
        "Duration": f"{result.seconds:.1f} s",
        "Speed": f"{result.megabytes_per_second:.1f} MB/s",
        "Upload": result.strategy,
    }
    for name, value in fields.items():
        embed.add_embed_field(name=name, value=_clip(value), inline=True)
    if result.strategy_reason:
        embed.add_embed_field(name="Why", value=_clip(result.strategy_reason), inline=False)
    embed.add_embed_field(
        name="Frame.io", value=f"[Open in Frame.io]({result.view_url})", inline=False
    )
    return embed


def failure_embed(path: str, error: BaseException, shot: ShotName | None = None) -> DiscordEmbed:
    """Red embed for an ingest that failed after its retries."""
    name = shot.file if shot else path.rsplit("/", 1)[-1]
    embed = DiscordEmbed(title=_clip(f"Ingest failed: {name}", 250), color=RED)
    if shot is not None:
        embed.add_embed_field(name="Scene", value=shot.scene, inline=True)
        embed.add_embed_field(name="Shot", value=shot.shot, inline=True)
        embed.add_embed_field(name="Version", value=f"V{shot.version:03d}", inline=True)
    embed.add_embed_field(name="Error", value=type(error).__name__, inline=True)
    kind = (
        "transient (retries exhausted)"
        if isinstance(error, PostflowError) and error.transient
        else "permanent"
    )
    embed.add_embed_field(name="Kind", value=kind, inline=True)
    embed.add_embed_field(name="Details", value=_clip(str(error)), inline=False)
    embed.add_embed_field(name="Path", value=_clip(f"`{path}`"), inline=False)
    return embed


def naming_error_embed(path: str, error: NamingError) -> DiscordEmbed:
    """Orange embed for a file whose name matches no rule: it is not uploaded."""
    embed = DiscordEmbed(title=_clip(f"Unreadable name: {error.file}", 250), color=ORANGE)
    embed.set_description(
        "Not uploaded. Rename it to the nomenclature (e.g. `SC01_UNDLM_00412_V002.mov`) "
        "and it will be picked up."
    )
    embed.add_embed_field(name="Reason", value=_clip(error.reason), inline=False)
    embed.add_embed_field(name="Rules tried", value=_clip(", ".join(error.rules_tried) or "none"))
    embed.add_embed_field(name="Path", value=_clip(f"`{path}`"), inline=False)
    return embed


def send_embed(
    webhook_url: SecretStr | None,
    embed: DiscordEmbed,
    username: str = "RL PostFlow",
    timeout_seconds: float = 15.0,
) -> bool:
    """Post one embed to a Discord webhook.

    Args:
        webhook_url: the webhook URL (a secret: it grants posting); None disables sending.
        embed: the message.
        username: name shown as the author.
        timeout_seconds: HTTP timeout.

    Returns:
        True when Discord accepted it; False when notifications are disabled.

    Raises:
        NotificationError: Discord refused it (4xx: permanent) or could not be reached
            (network/5xx: transient).
    """
    if webhook_url is None or not webhook_url.get_secret_value():
        log.debug("Discord notifications disabled (no webhook URL)")
        return False
    webhook = DiscordWebhook(
        url=webhook_url.get_secret_value(),
        username=username,
        rate_limit_retry=True,
        timeout=timeout_seconds,
    )
    webhook.add_embed(embed)
    try:
        response = webhook.execute()
    # `from None`: the requests error's text holds the webhook URL (its token is a secret),
    # and a chained cause would reach Prefect's logged traceback.
    except requests.RequestException as exc:
        raise NotificationError(f"Discord unreachable: {type(exc).__name__}") from None
    except ValueError:  # the library parses every answer as JSON
        raise NotificationError("Discord sent a non-JSON answer", status_code=502) from None
    if response.status_code >= 300:
        raise NotificationError(
            f"Discord answered HTTP {response.status_code}", status_code=response.status_code
        )
    return True


@task(name="notify-discord", cache_policy=NO_CACHE)
def notify_discord(
    webhook_url: SecretStr | None, embed: DiscordEmbed, username: str = "RL PostFlow"
) -> bool:
    """Prefect task around :func:`send_embed` (the flow adds transient-only retries)."""
    return send_embed(webhook_url, embed, username)
