"""Recovery in the sensor: the retry queue's waits and the Frame.io circuit breaker.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationInfo, field_validator


class RecoverySettings(BaseModel):
    """Recovery in the sensor: the retry queue's waits and the Frame.io circuit breaker."""

    retry_base_delay_seconds: float = Field(
        30.0, gt=0, le=3600, description="Wait before the first retry of a transient failure."
    )
    retry_max_delay_seconds: float = Field(
        1800.0, gt=0, le=86400, description="Cap on the doubling wait between retries."
    )
    retry_give_up_after_seconds: float = Field(
        86400.0,
        gt=0,
        le=30 * 86400,
        description="Stop retrying a file this long after it first failed.",
    )
    circuit_failure_threshold: int = Field(
        5, ge=1, le=1000, description="Consecutive transient failures that open the breaker."
    )
    circuit_cool_down_seconds: float = Field(
        60.0, gt=0, le=3600, description="Wait after the breaker opens before one probe ingest."
    )
    circuit_max_cool_down_seconds: float = Field(
        900.0, gt=0, le=86400, description="Cap on the cool-down, which doubles per failed probe."
    )

    @field_validator("retry_max_delay_seconds")
    @classmethod
    def _max_delay_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        """The doubling wait starts at the base delay and stops at the max: max < base would
        make the first retry wait longer than the cap (``retry_base_delay_seconds`` is
        declared, so validated, first)."""
        base = info.data.get("retry_base_delay_seconds")
        if base is not None and value < base:
            raise ValueError(
                f"below POSTFLOW_RETRY_BASE_DELAY_SECONDS={base:g}; make the max delay at least "
                "the base delay"
            )
        return value
