"""Live metrics and alerts (the thresholds and cooldown are in the PostflowTuning block).

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class AlertSettings(BaseModel):
    """Live metrics and alerts (the thresholds and cooldown are in the PostflowTuning block)."""

    metrics_window_seconds: float = Field(
        900.0,
        gt=0,
        description="Rolling window of the live figures the alerts compare (seconds).",
    )
    metrics_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the working process emits postflow.metrics and checks the "
        "alert thresholds (seconds).",
    )
