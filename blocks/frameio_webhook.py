"""The Frame.io webhook of the review loop, as a Prefect block: its id, URL and signing secret.

Frame.io returns a webhook's secret only in the answer to ``webhooks.create`` ("Make sure to
store your secret. You won't be able to see it again!", the SDK's ``WebhookCreateResponseData``),
so ``postflow webhooks install`` saves it here at once. The receiver reads it to check
signatures (:mod:`blocks.webhook_signature`). The secret is a ``SecretStr``: never logged,
never a flow parameter.

Example:
    >>> FrameioWebhook(webhook_id="...", url="https://x/frameio/webhook",
    ...                secret="...").save("postflow-frameio-webhook")   # doctest: +SKIP
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

__all__ = ["WEBHOOK_BLOCK_SLUG", "FrameioWebhook"]

WEBHOOK_BLOCK_SLUG = "postflow-frameio-webhook"


class FrameioWebhook(Block):
    """A workspace webhook made by ``postflow webhooks install``.

    Attributes:
        webhook_id: Frame.io's id of the webhook.
        name: its name (ours are found again by name and URL).
        url: where Frame.io delivers (the receiver's public URL).
        workspace_id: the workspace it fires for.
        secret: the signing secret (HMAC-SHA256 key of ``X-Frameio-Signature``).
    """

    _block_type_name = "PostFlow Frame.io Webhook"
    _block_type_slug = WEBHOOK_BLOCK_SLUG
    _description = (
        "The Frame.io webhook of RL PostFlow's review loop: its id, URL and signing secret "
        "(shown by Frame.io only once, when it is created)."
    )

    webhook_id: str = Field(..., description="Frame.io webhook id.")
    name: str = Field("", description="The webhook's name in Frame.io.")
    url: str = Field(..., description="The receiver's public URL Frame.io posts to.")
    workspace_id: str = Field("", description="The Frame.io workspace it fires for.")
    secret: SecretStr = Field(..., description="Signing secret (HMAC-SHA256 key).")

    def signing_secret(self) -> str:
        """The secret, unwrapped (only the receiver's signature check calls this)."""
        return self.secret.get_secret_value()
