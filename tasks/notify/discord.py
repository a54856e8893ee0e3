"""Discord messages of the pipeline: the embeds, and one task that sends them.

Three embeds for each ingest: a green one per uploaded file (scene, shot, version, size,
duration, MB/s, Frame.io link), a red one per failed ingest, and an orange one per file whose
name the nomenclature cannot read. :func:`notify_discord` sends any embed (the weekly report's
too, with its chart attached) through the one Discord edge, the ``PostflowDiscord`` block
(:mod:`blocks.discord`), which unwraps the webhook URL and maps every error. With no block
saved under the configured name, nothing is sent and nothing fails (logged once per process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from discord_webhook import DiscordEmbed
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from blocks.discord import PostflowDiscord
from blocks.settings import load_block
from core.errors import NamingError, PostflowError
from core.logs import run_logger
from core.runtime import current_runtime
from core.units import human_bytes
from tasks.notify.messages import text
from tasks.structure.naming import ShotName
from tasks.upload.job import UploadResult

GREEN, RED, ORANGE = "2ecc71", "e74c3c", "e67e22"
_MISSING_BLOCKS = "discord-blocks-missing"  # runtime registry: block names already logged


def _clip(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def success_embed(
    shot: ShotName, result: UploadResult, *, language: str = "en", production: str = ""
) -> DiscordEmbed:
    """Green embed for an uploaded (or already present) file, linking to Frame.io.

    A re-render (same name, other content: ``result.re_render``) says so in the title and
    the description: it is a new version on top of the earlier upload, which keeps its comments.

    Args:
        shot: the parsed name.
        result: what the upload did.
        language: ``"en"`` or ``"fr"`` (:mod:`tasks.notify.messages`).
        production: the production's name, shown when there are several ("": none shown).

    Returns:
        The embed.
    """
    t = _texts(language)
    if result.strategy == "skipped":
        verb = t("already_there")
    else:
        verb = t("re_render_uploaded") if result.re_render else t("uploaded")
    description = f"`{shot.file}`"
    if result.re_render:
        description += "\n" + t("re_render_note")
    embed = DiscordEmbed(
        title=_clip(
            f"{_prefix(production)}{shot.scene} / {shot.shot} — V{shot.version:03d} {verb}", 250
        ),
        description=_clip(description),
        color=GREEN,
        url=result.view_url,
    )
    fields = {
        t("scene"): shot.scene,
        t("shot"): shot.shot,
        t("version"): f"V{shot.version:03d}",
        t("size"): human_bytes(result.size_bytes),
        t("duration"): f"{result.seconds:.1f} s",
        t("speed"): f"{result.megabytes_per_second:.1f} MB/s",
        t("upload"): result.strategy,
    }
    if production:
        fields[t("production")] = production
    for name, value in fields.items():
        embed.add_embed_field(name=name, value=_clip(value), inline=True)
    if result.strategy_reason:
        embed.add_embed_field(name=t("why"), value=_clip(result.strategy_reason), inline=False)
    embed.add_embed_field(
        name="Frame.io", value=f"[{t('open_in_frameio')}]({result.view_url})", inline=False
    )
    return embed


def failure_embed(
    path: str,
    error: BaseException,
    shot: ShotName | None = None,
    *,
    language: str = "en",
    production: str = "",
) -> DiscordEmbed:
    """Red embed for an ingest that failed after its retries (``language`` and
    ``production`` as for :func:`success_embed`)."""
    t = _texts(language)
    name = shot.file if shot else path.rsplit("/", 1)[-1]
    embed = DiscordEmbed(
        title=_clip(f"{_prefix(production)}{t('ingest_failed')}: {name}", 250), color=RED
    )
    if production:
        embed.add_embed_field(name=t("production"), value=_clip(production), inline=True)
    if shot is not None:
        embed.add_embed_field(name=t("scene"), value=shot.scene, inline=True)
        embed.add_embed_field(name=t("shot"), value=shot.shot, inline=True)
        embed.add_embed_field(name=t("version"), value=f"V{shot.version:03d}", inline=True)
    embed.add_embed_field(name=t("error"), value=type(error).__name__, inline=True)
    transient = isinstance(error, PostflowError) and error.transient
    embed.add_embed_field(
        name=t("kind"), value=t("transient") if transient else t("permanent"), inline=True
    )
    embed.add_embed_field(name=t("details"), value=_clip(str(error)), inline=False)
    embed.add_embed_field(name=t("path"), value=_clip(f"`{path}`"), inline=False)
    return embed


def naming_error_embed(
    path: str, error: NamingError, *, language: str = "en", production: str = ""
) -> DiscordEmbed:
    """Orange embed for a file whose name matches no rule: it is not uploaded (``language``
    and ``production`` as for :func:`success_embed`)."""
    t = _texts(language)
    embed = DiscordEmbed(
        title=_clip(f"{_prefix(production)}{t('unreadable_name')}: {error.file}", 250),
        color=ORANGE,
    )
    embed.set_description(t("rename_hint"))
    embed.add_embed_field(name=t("reason"), value=_clip(error.reason), inline=False)
    embed.add_embed_field(
        name=t("rules_tried"), value=_clip(", ".join(error.rules_tried) or t("none"))
    )
    embed.add_embed_field(name=t("path"), value=_clip(f"`{path}`"), inline=False)
    return embed


def _texts(language: str) -> Callable[[str], str]:
    return lambda key: text(key, language)


def _prefix(production: str) -> str:
    return f"[{production}] " if production else ""


def discord_block(block_name: str) -> PostflowDiscord | None:
    """The saved Discord block ``block_name``, or None: notifications are off then, which is
    logged once per name and process (the runtime remembers it)."""
    block = load_block(PostflowDiscord, block_name)
    if isinstance(block, PostflowDiscord):
        return block
    logged = current_runtime().registry(_MISSING_BLOCKS)
    if block_name not in logged:
        logged[block_name] = True
        try:
            logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
        except MissingContextError:
            logger = run_logger("postflow.notify")
        logger.info(
            "No Discord block %r saved: Discord messages are off (`postflow setup` saves it)",
            block_name,
        )
    return None


@task(name="notify-discord", cache_policy=NO_CACHE)
def notify_discord(block_name: str, embed: DiscordEmbed, file: Path | None = None) -> bool:
    """Post ``embed`` (with ``file`` attached) through the Discord block ``block_name``.

    The flow adds transient-only retries (``tasks.recovery.retrying.retry_options``).

    Args:
        block_name: name of a saved ``PostflowDiscord`` block (``settings.discord_block``).
        embed: the message.
        file: a file to attach, e.g. the weekly report's chart.

    Returns:
        True when Discord accepted it; False when no such block is saved.

    Raises:
        NotificationError: Discord refused it (4xx: permanent) or could not be reached
            (network/5xx: transient); its text holds no webhook URL and nothing is chained.
    """
    block = discord_block(block_name)
    if block is None:
        return False
    block.send(embed, file)
    return True
