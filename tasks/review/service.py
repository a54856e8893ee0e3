"""The review loop put together for one installation: the receiver, the poll, their settings.

* :func:`review_context` - the state store's rows, Frame.io calls and Discord blocks the
  effects use (:mod:`tasks.review.effects`);
* :func:`webhook_url` - where Frame.io should deliver: ``review_webhook_url``, else the named
  tunnel's hostname + ``/frameio/webhook`` (a path rule of the tunnel's ingress sends it to
  ``review_receiver_port``), else None (poll only);
* :func:`build_receiver` - the :class:`blocks.webhook_receiver.WebhookReceiver` wired to the
  effects, the delivery claims and the saved secret;
* :class:`ReviewService` - the receiver (when a URL is set) and the poll loop, for
  ``postflow webhooks serve``.

Delivery dedupe: a ``metadata.value.updated`` delivery is always re-read, even when its key was
seen: two Status changes of one file within the same second make byte-identical deliveries
(same type, resource and timestamp), and the Status effect compares the value it reads with
the one announced, so reading again posts nothing twice but never misses the second change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prefect.events import emit_event

from blocks.discord import PostflowDiscord
from blocks.frameio_review import FrameioReview
from blocks.frameio_webhook import FrameioWebhook
from blocks.settings import load_block
from blocks.store import open_store
from blocks.store.review import ReviewBook
from blocks.tunnel import public_base_url
from blocks.webhook_receiver import RECEIVER_PATH, WebhookReceiver
from blocks.webhook_signature import Delivery
from config.productions import installation_settings
from config.settings import PostflowSettings
from core.errors import PostflowError
from core.logs import run_logger
from tasks.clients import open_project
from tasks.notify.discord import discord_block
from tasks.review.effects import STATUS_EVENT, ReviewContext, handle
from tasks.review.poll import poll_once

__all__ = [
    "REVIEW_EVENTS",
    "ReviewService",
    "build_receiver",
    "review_context",
    "saved_secret",
    "saved_webhook",
    "webhook_url",
]

REVIEW_EVENTS = ("file.ready", "comment.created", "comment.completed", STATUS_EVENT)
SECRET_TTL_SECONDS = 30.0
_log = run_logger("postflow.review")


def review_context(settings: PostflowSettings) -> ReviewContext:
    """The effects' context for ``settings``' installation.

    Raises:
        ConfigurationError: Frame.io ids or credentials missing.
        StateStoreError: the store cannot be opened.
    """

    def discord(name: str) -> PostflowDiscord | None:
        return discord_block(name)

    book = ReviewBook(open_store(installation_settings(settings)))
    return ReviewContext(book, FrameioReview(open_project(settings)), discord, emit_event)


def webhook_url(settings: PostflowSettings) -> str | None:
    """The public URL of the receiver, or None when there is none (poll only)."""
    if settings.review_webhook_url:
        return settings.review_webhook_url
    if settings.tunnel_mode == "named" and settings.tunnel_hostname:
        return public_base_url(settings.tunnel_hostname) + RECEIVER_PATH
    return None


def saved_webhook(settings: PostflowSettings) -> FrameioWebhook | None:
    """The saved webhook block (id, URL, secret), or None."""
    block = load_block(FrameioWebhook, settings.review_webhook_block)
    return block if isinstance(block, FrameioWebhook) else None


def saved_secret(
    settings: PostflowSettings, ttl_seconds: float = SECRET_TTL_SECONDS
) -> Callable[[], str]:
    """The saved webhook's signing secret, read again every ``ttl_seconds`` (a webhook made
    again by ``postflow webhooks install`` is followed without a restart); when the block
    cannot be read, the last secret read stays ("" before any: every delivery is refused)."""
    cache: dict[str, Any] = {"value": "", "read_at": None}
    lock = threading.Lock()

    def secret() -> str:
        with lock:
            read_at = cache["read_at"]
            if read_at is None or time.monotonic() - read_at >= ttl_seconds:
                cache["read_at"] = time.monotonic()
                try:
                    block = saved_webhook(settings)
                except (OSError, RuntimeError, ValueError) as exc:
                    _log.warning("Webhook secret not read again (kept): %s", exc)
                else:
                    if block is None and read_at is None:
                        _log.warning(
                            "No Frame.io webhook saved: deliveries are refused until "
                            "`postflow webhooks install`"
                        )
                    cache["value"] = block.signing_secret() if block is not None else ""
            return str(cache["value"])

    return secret


def build_receiver(
    settings: PostflowSettings, ctx: ReviewContext, secret: Callable[[], str] | None = None
) -> WebhookReceiver:
    """A receiver on ``review_receiver_host:port`` handing deliveries to the effects.

    Args:
        settings: the installation's settings.
        ctx: the effects' context.
        secret: the signing secret's source (default: the saved webhook block, read once).
    """
    if secret is None:
        secret = saved_secret(settings)

    def claim(delivery: Delivery) -> bool:
        new = ctx.book.claim_delivery(delivery.key)
        return new or delivery.event == STATUS_EVENT  # see the module docstring

    def on_delivery(delivery: Delivery) -> None:
        outcome = handle(ctx, delivery)
        _log.info("Frame.io %s %s: %s", delivery.event, delivery.resource_id, outcome)

    return WebhookReceiver(
        secret,
        claim,
        on_delivery,
        host=settings.review_receiver_host,
        port=settings.review_receiver_port,
    )


class ReviewService:
    """The receiver (when Frame.io can reach it) and the poll, until :meth:`stop`.

    Args:
        settings: the installation's settings.
        ctx: the effects' context (default: :func:`review_context`).
        receive: run the webhook receiver (default: when :func:`webhook_url` is set).
    """

    def __init__(
        self,
        settings: PostflowSettings,
        ctx: ReviewContext | None = None,
        *,
        receive: bool | None = None,
    ) -> None:
        self.settings = settings
        self.ctx = ctx or review_context(settings)
        wanted = webhook_url(settings) is not None if receive is None else receive
        self.receiver = build_receiver(settings, self.ctx) if wanted else None
        self._stop = threading.Event()

    def run(self, on_ready: Callable[[ReviewService], None] | None = None) -> None:
        """Serve and poll until :meth:`stop` (blocking). A failed poll is logged and retried
        at the next interval."""
        if self.receiver is not None:
            self.receiver.start()
        try:
            if on_ready is not None:
                on_ready(self)
            interval = self.settings.review_poll_interval_seconds
            while not self._stop.is_set():
                if interval > 0:
                    self.poll()
                self._stop.wait(interval if interval > 0 else 3600)
        finally:
            if self.receiver is not None:
                self.receiver.stop()

    def poll(self) -> dict[str, int]:
        """One poll; a failure is logged and answered ``{}``."""
        try:
            return poll_once(self.ctx, self.settings.review_poll_files)
        except (PostflowError, OSError) as exc:
            _log.warning(
                "Review poll failed (next one in %.0f s): %s",
                self.settings.review_poll_interval_seconds,
                exc,
            )
            return {}

    def stop(self) -> None:
        """Make :meth:`run` return."""
        self._stop.set()
