"""What each Frame.io event does in Discord, each effect claimed once in the state store.

| Event (webhook) / poll finding             | Effect                                          |
|--------------------------------------------|-------------------------------------------------|
| ``file.ready`` / ``files.show`` transcoded | the upload message is EDITED: `` · playable``   |
| ``comment.created`` / a new comment        | a reply: author, timecode, text                 |
| ``comment.completed`` / a done comment     | a reply: "Comment done"                         |
| ``metadata.value.updated`` / Status differs| a message "Review status: Approved" and the     |
|                                            | Prefect event ``postflow.review.approved``      |

Webhook bodies carry only a resource id, so the comment and the Status are fetched
(:class:`blocks.frameio_review.FrameioReview`); the Status is read afresh each time, so
deliveries in any order end on the current value. Claims (:class:`blocks.store.review.
ReviewBook`): the playable edit by ``review_files.playable_at``, a reply by its
``review_effects`` key, a Status by compare-and-set of ``review_files.status``. A failed post
gives its claim back and raises, so the poll (or a retried delivery) does it later. Events
about files that are not ours (no upload message recorded) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blocks.discord import PostflowDiscord
from blocks.frameio_review import FrameioReview, ReviewComment
from blocks.store.review import ReviewBook, ReviewFile
from blocks.webhook_signature import Delivery
from tasks.review.embeds import comment_embed, playable_embed, status_embed, status_event_name

__all__ = ["ReviewContext", "announce_comment", "announce_ready", "announce_status", "handle"]

COMMENT_EVENTS = ("comment.created", "comment.completed")
STATUS_EVENT = "metadata.value.updated"


@dataclass(frozen=True)
class ReviewContext:
    """What the effects need.

    Attributes:
        book: the state store's review rows.
        frameio: the Frame.io calls (comments, Status).
        discord: block name -> the Discord block (None: not saved; nothing is posted).
        emit: Prefect's ``emit_event`` (injected in unit tests).
    """

    book: ReviewBook
    frameio: FrameioReview
    discord: Callable[[str], PostflowDiscord | None]
    emit: Callable[..., Any]


def handle(ctx: ReviewContext, delivery: Delivery) -> str:
    """Act on one verified webhook delivery; returns what was done (for logs and tests).

    Raises:
        FrameioError: the comment or Status could not be fetched.
        NotificationError: Discord refused or could not be reached (the claim is given back).
        StateStoreError: the store cannot be used.
    """
    if delivery.event == "file.ready":
        return announce_ready(ctx, delivery.resource_id)
    if delivery.event in COMMENT_EVENTS:
        comment = ctx.frameio.comment(delivery.resource_id)
        return announce_comment(ctx, comment, delivery.event)
    if delivery.event == STATUS_EVENT:
        row = ctx.book.file(delivery.resource_id)
        if row is None or row.message_id is None:  # another project's file: no API call
            return "not-ours"
        status = ctx.frameio.review_status(delivery.resource_id)
        return announce_status(ctx, delivery.resource_id, status)
    return "ignored"


def announce_ready(ctx: ReviewContext, file_id: str) -> str:
    """Record that ``file_id`` plays; edit its upload message once (when it is posted)."""
    ctx.book.mark_ready(file_id)
    row = ctx.book.claim_playable(file_id)
    if row is None or row.embed is None or row.message_id is None:
        return "ready-recorded"
    block = _block(ctx, row)
    if block is None:
        ctx.book.release_playable(file_id)
        return "no-discord"
    try:
        block.edit(row.message_id, playable_embed(row.embed, row.language))
    except BaseException:
        ctx.book.release_playable(file_id)
        raise
    return "edited"


def announce_comment(ctx: ReviewContext, comment: ReviewComment, event: str) -> str:
    """Post one reply for a new (``comment.created``) or done (``comment.completed``) comment."""
    row = ctx.book.file(comment.file_id)
    if row is None or row.message_id is None:
        return "not-ours"
    completed = event == "comment.completed"
    if completed and not comment.completed:
        return "no-longer-completed"
    key = f"{event}:{comment.id}"
    if not ctx.book.claim_effect(key):
        return "duplicate"
    embed = comment_embed(
        row.label,
        author=comment.author,
        timecode=comment.timecode,
        comment=comment.text,
        completed=completed,
        message_id=row.message_id,
        language=row.language,
    )
    try:
        if not _post(ctx, row, embed):
            ctx.book.release_effect(key)
            return "no-discord"
    except BaseException:
        ctx.book.release_effect(key)
        raise
    return "replied"


def announce_status(ctx: ReviewContext, file_id: str, status: str) -> str:
    """Post a message and emit ``postflow.review.<status>`` when the Status changed."""
    row = ctx.book.file(file_id)
    if row is None or row.message_id is None:
        return "not-ours"
    previous = ctx.book.swap_status(file_id, status)
    if previous is None:
        return "unchanged"
    embed = status_embed(
        row.label,
        status=status,
        previous=previous,
        message_id=row.message_id,
        language=row.language,
    )
    try:
        if not _post(ctx, row, embed):
            ctx.book.restore_status(file_id, previous)
            return "no-discord"
    except BaseException:
        ctx.book.restore_status(file_id, previous)
        raise
    ctx.emit(
        event=status_event_name(status),
        resource={
            "prefect.resource.id": f"frameio.file.{file_id}",
            "prefect.resource.name": row.label or file_id,
            "postflow.review.status": status,
            "postflow.review.previous": previous,
        },
        payload={"file_id": file_id, "status": status, "previous": previous},
    )
    return "status-announced"


def _block(ctx: ReviewContext, row: ReviewFile) -> PostflowDiscord | None:
    return ctx.discord(row.block) if row.block else None


def _post(ctx: ReviewContext, row: ReviewFile, embed: dict[str, Any]) -> bool:
    block = _block(ctx, row)
    if block is None:
        return False
    block.send(embed)
    return True
