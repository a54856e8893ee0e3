"""Prefect blocks of RL PostFlow: `prefect block register -m blocks` registers them all."""

from blocks.frameio import FrameioCredentials
from blocks.settings import DiscordEmbedWebhook, PostflowTuning

__all__ = ["DiscordEmbedWebhook", "FrameioCredentials", "PostflowTuning"]
