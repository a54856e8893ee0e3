"""Runtime settings of RL PostFlow (pydantic-settings, env prefix ``POSTFLOW_``, ``.env`` support).

Every field names its unit (``settle_seconds``, ``part_size_bytes``). Secrets are ``SecretStr``
and are never logged; in production they live in Prefect blocks, and these settings only name
the blocks. The defaults run the demo against the local sandbox.

Example:
    >>> from config.settings import PostflowSettings
    >>> PostflowSettings(watch_path="/mnt/lucid/BY_SHOT").poll_interval_seconds
    5.0
"""

from __future__ import annotations

from types import MappingProxyType

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.dotenv_file import warn_once
from config.sections.alerts import AlertSettings
from config.sections.frameio import FrameioSettings
from config.sections.notify import DISCORD_BLOCK_SLUG, NotifySettings
from config.sections.productions import ProductionSettings
from config.sections.recovery import RecoverySettings
from config.sections.review import ReviewSettings
from config.sections.state import StateSettings
from config.sections.tasks import TaskSettings
from config.sections.tunnel import TunnelSettings
from config.sections.upload import UploadSettings
from config.sections.watch import (
    DEFAULT_EXTENSIONS,
    DEFAULT_IGNORE_PATTERNS,
    DEFAULT_NOMENCLATURE_PATH,
    WatchSettings,
)

__all__ = [
    "BLOCK_SUFFIXES",
    "DEFAULT_EXTENSIONS",
    "DEFAULT_IGNORE_PATTERNS",
    "DEFAULT_NOMENCLATURE_PATH",
    "DISCORD_BLOCK_SLUG",
    "SECTIONS",
    "PostflowSettings",
]

warn_once()  # a .env line python-dotenv cannot parse is said once, not per read
# Block-name settings and what their default adds to the installation's name
BLOCK_SUFFIXES = MappingProxyType(
    {
        "frameio_credentials_block": "frameio",
        "discord_block": "discord",
        "tuning_block": "tuning",
        "tunnel_token_block": "tunnel-token",
        "review_webhook_block": "frameio-webhook",
    }
)

SECTIONS = (
    WatchSettings,
    RecoverySettings,
    FrameioSettings,
    UploadSettings,
    TaskSettings,
    NotifySettings,
    AlertSettings,
    StateSettings,
    TunnelSettings,
    ProductionSettings,
    ReviewSettings,
)
"""The slices, in the order the settings reference lists them (``config/sections/``)."""


class PostflowSettings(
    ReviewSettings,
    ProductionSettings,
    TunnelSettings,
    StateSettings,
    AlertSettings,
    NotifySettings,
    TaskSettings,
    UploadSettings,
    FrameioSettings,
    RecoverySettings,
    WatchSettings,
    BaseSettings,
):
    """All tunable settings; read from ``POSTFLOW_*`` environment variables and ``.env``.

    Every slice (:data:`SECTIONS`) is a base class: a module that needs one concern annotates
    its parameter with that slice (``settings: WatchSettings``) and is still given the whole
    object; the type checker keeps it to that slice's fields. The variable names stay flat
    (``POSTFLOW_SETTLE_SECONDS``), as they were.

    Raises:
        pydantic.ValidationError: when a value is out of bounds or of the wrong type.
    """

    model_config = SettingsConfigDict(
        env_prefix="POSTFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    @model_validator(mode="after")
    def _block_names_of_the_installation(self) -> PostflowSettings:
        """Unset block names become ``<installation>-<what>``: two installations on one
        Prefect server never load or overwrite each other's blocks."""
        for field, suffix in BLOCK_SUFFIXES.items():
            if not getattr(self, field):
                setattr(self, field, f"{self.installation}-{suffix}")
        if not self.alerts_block:
            self.alerts_block = f"{DISCORD_BLOCK_SLUG}/{self.discord_block}"
        return self
