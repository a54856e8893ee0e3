"""Our Frame.io webhook, made, shown and removed idempotently (``postflow webhooks ...``).

Ours are the workspace's webhooks named ``settings.review_webhook_name`` whose URL is the
receiver's public URL, plus the one whose id the saved block holds (its URL may have been an
earlier one). Every other webhook of the workspace is left alone.

:func:`install`:

* none of ours -> ``webhooks.create`` and the secret saved at once in the block (``created``);
* ours, its secret saved -> its URL and events set if they differ (``updated``) or nothing
  (``kept``); its secret stays;
* ours but no secret saved (the block was deleted: Frame.io shows a secret only once) ->
  deleted and made again (``recreated``).

Rate limits (the SDK's docstrings): create and update 10 a minute, index 100, delete 60.
"""

from __future__ import annotations

from dataclasses import dataclass

from blocks.frameio_review import FrameioReview, WebhookInfo
from blocks.frameio_webhook import FrameioWebhook
from config.settings import PostflowSettings
from core.errors import ConfigurationError
from tasks.review.service import REVIEW_EVENTS, saved_webhook, webhook_url

__all__ = ["WebhookState", "install", "remove", "state"]


@dataclass(frozen=True)
class WebhookState:
    """What ``status`` shows.

    Attributes:
        url: the receiver's public URL (None: no public URL, the poll only).
        ours: our webhooks in Frame.io.
        others: how many other webhooks the workspace has (never touched).
        secret_saved: the block holding the signing secret exists.
        action: what :func:`install` / :func:`remove` did ("" for ``status``).
    """

    url: str | None
    ours: tuple[WebhookInfo, ...]
    others: int
    secret_saved: bool
    action: str = ""


def _ours(
    frameio: FrameioReview, settings: PostflowSettings, url: str | None
) -> tuple[list[WebhookInfo], int, FrameioWebhook | None]:
    block = saved_webhook(settings)
    saved_id = block.webhook_id if block is not None else None
    hooks = frameio.webhooks()
    ours = [
        h
        for h in hooks
        if h.id == saved_id or (h.name == settings.review_webhook_name and h.url == url)
    ]
    return ours, len(hooks) - len(ours), block


def state(frameio: FrameioReview, settings: PostflowSettings) -> WebhookState:
    """Our webhooks as Frame.io has them (``webhooks.index``)."""
    url = webhook_url(settings)
    ours, others, block = _ours(frameio, settings, url)
    return WebhookState(url, tuple(ours), others, block is not None)


def install(frameio: FrameioReview, settings: PostflowSettings) -> WebhookState:
    """Make sure exactly one webhook of ours delivers our events to the public URL.

    Raises:
        ConfigurationError: no public URL (set ``POSTFLOW_REVIEW_WEBHOOK_URL`` or a named
            tunnel); the poll works without one.
        FrameioError: a Frame.io call failed.
    """
    url = webhook_url(settings)
    if url is None:
        raise ConfigurationError(
            "no public URL for the webhook receiver: set POSTFLOW_REVIEW_WEBHOOK_URL (or a "
            "named tunnel, POSTFLOW_TUNNEL_MODE=named and POSTFLOW_TUNNEL_HOSTNAME); without "
            "one, `postflow webhooks serve` polls Frame.io instead"
        )
    ours, others, block = _ours(frameio, settings, url)
    kept = next((h for h in ours if block is not None and h.id == block.webhook_id), None)
    for extra in [h for h in ours if h is not kept]:  # stale copies: they would sign with
        frameio.delete_webhook(extra.id)  # secrets we do not have (401s, retries)
    if kept is None:
        created, secret = frameio.create_webhook(
            settings.review_webhook_name, url, list(REVIEW_EVENTS)
        )
        _save(settings, created, secret, frameio.workspace_id)
        action = "recreated" if ours else "created"
        return WebhookState(url, (created,), others, True, action)
    if kept.url == url and set(kept.events) == set(REVIEW_EVENTS) and kept.active:
        return WebhookState(url, (kept,), others, True, "kept")
    updated = frameio.update_webhook(kept.id, url=url, events=list(REVIEW_EVENTS), active=True)
    assert block is not None  # kept is the block's webhook
    _save(settings, updated, block.signing_secret(), block.workspace_id)
    return WebhookState(url, (updated,), others, True, "updated")


def remove(frameio: FrameioReview, settings: PostflowSettings) -> WebhookState:
    """Delete our webhooks and the saved secret (nothing to delete: ``nothing``)."""
    url = webhook_url(settings)
    ours, others, block = _ours(frameio, settings, url)
    for hook in ours:
        frameio.delete_webhook(hook.id)
    if block is not None:
        FrameioWebhook.delete(settings.review_webhook_block)
    action = "removed" if ours or block is not None else "nothing"
    return WebhookState(url, (), others, False, action)


def _save(settings: PostflowSettings, hook: WebhookInfo, secret: str, workspace_id: str) -> None:
    FrameioWebhook(
        webhook_id=hook.id,
        name=hook.name,
        url=hook.url,
        workspace_id=workspace_id,
        secret=secret,  # type: ignore[arg-type]  # pydantic makes it a SecretStr
    ).save(settings.review_webhook_block, overwrite=True)
