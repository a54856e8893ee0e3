"""Several productions: the file that declares them, and which one these settings are for.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class ProductionSettings(BaseModel):
    """Several productions: the file that declares them, and which one these settings are for."""

    productions_file: Path | None = Field(
        None,
        description="TOML file declaring several productions, each a watch folder mapped to "
        "its own Frame.io project (docs/productions.md); unset: one production, "
        "from watch_path and frameio_project_id.",
    )
    production: str = Field(
        "", description="Name of the production these settings are for (set per production)."
    )
