"""The polling fallback: what webhooks would have said, read from Frame.io now and then.

Without a public URL (no named tunnel, no ``review_webhook_url``), or while the receiver was
down, nothing pushes Frame.io's answers. :func:`poll_once` asks instead, for up to
``review_poll_files`` of our announced files, least recently polled first:

* ``files.show`` while the message is not yet "playable" (``transcoded`` -> the edit);
* ``comments.index`` -> a reply for each comment not yet announced, and one for each done one;
* ``metadata.show`` -> a Status message when it differs from the one announced.

The effects are the webhook handler's own (:mod:`tasks.review.effects`), claimed in the same
rows, so a poll after a delivery, or a delivery after a poll, posts nothing twice. Cost per
file: at most three calls; with the defaults (30 files a minute) that stays under
``metadata.show``'s 100 calls a minute (the SDK's docstrings) and ``files.show``'s 10 a second.
"""

from __future__ import annotations

from collections import Counter

from core.errors import FrameioNotFound
from core.logs import run_logger
from tasks.review.effects import ReviewContext, announce_comment, announce_ready, announce_status

__all__ = ["poll_once"]

_log = run_logger("postflow.review")


def poll_once(ctx: ReviewContext, max_files: int) -> dict[str, int]:
    """Poll up to ``max_files`` announced files; returns how many of each outcome.

    Outcomes are the effects' return values (``"edited"``, ``"replied"``,
    ``"status-announced"``, ``"duplicate"``...) plus ``"files"`` and ``"gone"`` (the file was
    deleted in Frame.io).

    Raises:
        FrameioError: a transient Frame.io failure (the caller polls again later).
        NotificationError: Discord refused or could not be reached (claims are given back).
        StateStoreError: the store cannot be used.
    """
    outcomes: Counter[str] = Counter()
    for row in ctx.book.due_for_poll(max_files):
        outcomes["files"] += 1
        try:
            if row.playable_at is None and ctx.frameio.file_status(row.file_id) == "transcoded":
                outcomes[announce_ready(ctx, row.file_id)] += 1
            newest = row.comments_after
            for comment in ctx.frameio.comments(row.file_id):
                if comment.created_at > row.comments_after:
                    outcomes[announce_comment(ctx, comment, "comment.created")] += 1
                if comment.completed:
                    outcomes[announce_comment(ctx, comment, "comment.completed")] += 1
                newest = max(newest, comment.created_at)
            status = ctx.frameio.review_status(row.file_id)
            outcomes[announce_status(ctx, row.file_id, status)] += 1
        except FrameioNotFound:
            _log.info("Review poll: %s is gone from Frame.io", row.file_id)
            outcomes["gone"] += 1
            newest = row.comments_after
        ctx.book.mark_polled(row.file_id, newest)
    return dict(outcomes)
