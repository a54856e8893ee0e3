"""Prefect blocks of RL PostFlow: `prefect block register -m blocks` registers them all."""

from blocks.discord import PostflowDiscord
from blocks.frameio import FrameioCredentials
from blocks.settings import PostflowTuning

__all__ = ["FrameioCredentials", "PostflowDiscord", "PostflowTuning"]
