"""Notifications: which blocks get the messages, and in which language.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_settings import NoDecode

DISCORD_BLOCK_SLUG = "postflow-discord"  # blocks.discord.PostflowDiscord's block type slug


def _block_refs(value: object) -> object:
    """``"slack-webhook/on-call, custom-webhook/ops"`` -> a tuple of ``<slug>/<name>`` refs."""
    if not isinstance(value, str):
        return value
    refs = tuple(ref.strip() for ref in value.split(",") if ref.strip())
    for ref in refs:
        slug, _, name = ref.partition("/")
        if not slug or not name:
            raise ValueError(f"{ref!r} is not <block-type-slug>/<block-name> (slack-webhook/ops)")
    return refs


class NotifySettings(BaseModel):
    """Notifications: which blocks get the messages, and in which language."""

    discord_block: str = Field(
        "",
        description="Name of the PostflowDiscord block (Discord webhook) for the per-file "
        "embeds and the weekly report; with no such block saved, nothing is sent (empty: "
        "<installation>-discord, postflow-discord for the default installation).",
    )
    alerts_block: str = Field(
        "",
        description="<block type slug>/<name> of the notification block the automations use "
        "(any Prefect notification block); empty: the Discord block, "
        "postflow-discord/<discord_block>.",
    )
    tuning_block: str = Field(
        "",
        description="PostflowTuning block overriding TTLs, retries, ... (empty: "
        "<installation>-tuning, postflow-tuning for the default installation).",
    )
    discord_language: Literal["en", "fr"] = Field(
        "en", description="Language of the Discord messages: en (English) or fr (French)."
    )
    notify_blocks: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_block_refs)] = Field(
        (),
        description="Extra Prefect notification blocks that also get every message (per-file, "
        "alerts, weekly report) as text, comma-separated <block-type-slug>/<block-name>, e.g. "
        "slack-webhook/on-call,ms-teams-webhook/post; the Discord block keeps its embeds "
        "(empty: Discord only).",
    )
