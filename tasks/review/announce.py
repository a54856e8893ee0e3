"""The ingest's upload message, kept so the review loop can edit it and answer under it.

:func:`notify_upload` posts the green upload embed like :func:`tasks.notify.discord.notify_discord`
does, asks Discord for the message back (``?wait=true``) and keeps its id and embed in the
state store (:class:`blocks.store.review.ReviewBook`), shared by every machine. When Frame.io
said the file was playable before the message existed (``file.ready`` can beat the ingest's
last step), the new message is edited at once.
"""

from __future__ import annotations

from discord_webhook import DiscordEmbed
from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.discord import PostflowDiscord
from blocks.store import open_store
from blocks.store.review import ReviewBook
from config.productions import installation_settings
from config.settings import PostflowSettings
from core.errors import PostflowError
from core.logs import run_logger
from tasks.notify.discord import discord_block
from tasks.review.embeds import embed_dict, playable_embed

__all__ = ["notify_upload", "remember_message"]

_log = run_logger("postflow.review")


@task(name="notify-upload", cache_policy=NO_CACHE)
def notify_upload(
    settings: PostflowSettings, embed: DiscordEmbed, file_id: str, label: str
) -> bool:
    """Post an upload's embed through ``settings.discord_block`` and keep its message id.

    Args:
        settings: the production's settings (Discord block, language, state store).
        embed: the green upload embed (:func:`tasks.notify.discord.success_embed`).
        file_id: the Frame.io file the message announces.
        label: the shot as the replies name it, e.g. ``"SC01 / 00412 — V002"``.

    Returns:
        True when Discord accepted it; False when no Discord block is saved.

    Raises:
        NotificationError: as :func:`tasks.notify.discord.notify_discord`. A state store that cannot
            be written is logged, never raised: the message is out already.
    """
    block = discord_block(settings.discord_block)
    if block is None:
        return False
    message_id = block.send(embed)
    if message_id:
        remember_message(settings, block, embed_dict(embed), file_id, message_id, label)
    return True


def remember_message(
    settings: PostflowSettings,
    block: PostflowDiscord,
    embed: dict[str, object],
    file_id: str,
    message_id: str,
    label: str,
) -> None:
    """Keep the message in the state store; edit it to "playable" if Frame.io already said so.

    Failures are logged (the upload message stays as it is).
    """
    try:  # one store for the installation: its receiver serves every production
        book = ReviewBook(open_store(installation_settings(settings)))
        book.record_message(
            file_id,
            block=settings.discord_block,
            message_id=message_id,
            embed=dict(embed),
            label=label,
            language=settings.discord_language,
        )
        row = book.claim_playable(file_id)
        if row is not None and row.embed is not None:
            try:
                block.edit(message_id, playable_embed(row.embed, row.language))
            except PostflowError:
                book.release_playable(file_id)
                raise
    except PostflowError as exc:  # StateStoreError, NotificationError
        _log.warning("Upload message of %s not kept for the review loop: %s", file_id, exc)
