"""The review loop: Frame.io's webhooks (or a poll) back into Discord (docs/review-loop.md).

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReviewSettings(BaseModel):
    """The review loop: where Frame.io delivers, our webhook's name and block, the poll."""

    review_webhook_url: str = Field(
        "",
        description="Public URL Frame.io delivers review webhooks to (the receiver's "
        "/frameio/webhook); empty: https://<tunnel_hostname>/frameio/webhook with a named "
        "tunnel, else no webhook (the poll only).",
    )
    review_webhook_name: str = Field(
        "RL PostFlow review",
        description="Name of our Frame.io webhook (found again by name and URL; others are "
        "never touched).",
    )
    review_webhook_block: str = Field(
        "", description="Block keeping the webhook's id and signing secret."
    )
    review_receiver_host: str = Field("127.0.0.1", description="Interface of the receiver.")
    review_receiver_port: int = Field(
        8792, ge=0, le=65535, description="TCP port of the webhook receiver (0: any free one)."
    )
    review_poll_interval_seconds: float = Field(
        60.0, ge=0, description="Seconds between review polls (0: no poll)."
    )
    review_poll_files: int = Field(
        30, ge=1, le=1000, description="Files read per review poll (three calls each at most)."
    )
