"""What the review loop reads and manages in Frame.io v4: comments, the review Status, webhooks.

Every call goes through the official SDK and :meth:`FrameioProject.call` (error mapping,
throttle, 429 waits). Sources (the ``frameio`` 4.0.0 SDK):

* ``comments.show`` / ``comments.index`` with ``include=owner`` and
  ``timestamp_as_timecode=true`` (``comments/client.py``; 100 calls/min for show). The
  timecode's format is not documented; it is shown as Frame.io sends it.
* ``metadata.show`` -> ``MetadataWithDefinition{file_id, metadata[]}``; the review Status is the
  select field named ``"Status"`` (``value[0].display_name``). That such a field exists with
  that name is not in Frame.io's docs: third-party code reads it this way
  (shared/notes/webhooks-mhl-presigned-urls.md §1).
* ``webhooks.index / create / update / delete`` (workspace-scoped list and create;
  account-scoped show/update/delete: the SDK's paths, not the guide's). The ``secret`` is in
  the create answer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from frameio.webhooks import WebhookCreateParamsData, WebhookUpdateParamsData

from blocks.frameio_project import NO_SDK_RETRY, PAGE_SIZE, FrameioProject

__all__ = ["STATUS_FIELD_NAME", "FrameioReview", "ReviewComment", "WebhookInfo"]

STATUS_FIELD_NAME = "Status"


@dataclass(frozen=True)
class ReviewComment:
    """A comment as the review loop shows it.

    Attributes:
        id / file_id: Frame.io ids.
        text: the comment.
        author: its owner's name ("" unknown).
        timecode: where on the timeline (a timecode string, or a frame number as text;
            "" when the comment is not on the timeline).
        created_at: ISO 8601.
        completed: the comment is marked done.
    """

    id: str
    file_id: str
    text: str
    author: str
    timecode: str
    created_at: str
    completed: bool

    @classmethod
    def from_sdk(cls, item: Any) -> ReviewComment:
        """Build from an SDK ``Comment`` / ``CommentWithIncludes``."""
        owner = getattr(item, "owner", None)
        stamp = item.timestamp
        return cls(
            id=item.id,
            file_id=item.file_id,
            text=item.text,
            author=(getattr(owner, "name", None) or getattr(owner, "email", None) or ""),
            timecode="" if stamp is None else str(stamp),
            created_at=item.created_at.isoformat(),
            completed=item.completed_at is not None,
        )


@dataclass(frozen=True)
class WebhookInfo:
    """A workspace webhook (never its secret)."""

    id: str
    name: str
    url: str
    events: tuple[str, ...]
    active: bool


class FrameioReview:
    """The review loop's Frame.io calls, over one :class:`FrameioProject`.

    Args:
        project: the project (account, client, error mapping).

    Every method raises :class:`core.errors.FrameioError` subclasses (mapped once).
    """

    def __init__(self, project: FrameioProject) -> None:
        self.project = project
        self.account_id = project.account_id

    @property
    def workspace_id(self) -> str:
        """The project's workspace (``projects.show``)."""
        return str(self.project.project.workspace_id)

    # --- comments and Status --------------------------------------------------------------------
    def comment(self, comment_id: str) -> ReviewComment:
        """One comment with its owner (``comments.show``)."""
        client = self.project.client
        response = self.project.call(
            "comments.show",
            client.comments.show,
            self.account_id,
            comment_id,
            include="owner",
            timestamp_as_timecode=True,
        )
        return ReviewComment.from_sdk(response.data)

    def comments(self, file_id: str) -> list[ReviewComment]:
        """Every comment of a file, oldest first (``comments.index``, all pages)."""
        client = self.project.client
        items: list[Any] = []
        after: str | None = None
        while True:
            pager = self.project.call(
                "comments.index",
                client.comments.index,
                self.account_id,
                file_id,
                include="owner",
                timestamp_as_timecode=True,
                sort="created_at_asc",
                page_size=PAGE_SIZE,
                after=after,
            )
            items.extend(pager.items or [])
            after = _next_cursor(pager)
            if not after:
                return [ReviewComment.from_sdk(item) for item in items]

    def review_status(self, file_id: str) -> str:
        """The display name of the file's "Status" select value ("" unset or no such field)."""
        client = self.project.client
        response = self.project.call(
            "metadata.show", client.metadata.show, self.account_id, file_id
        )
        for field in response.data.metadata:
            if getattr(field, "field_definition_name", "") == STATUS_FIELD_NAME:
                values = getattr(field, "value", None) or []
                if isinstance(values, list) and values:
                    return str(getattr(values[0], "display_name", "") or "")
        return ""

    def file_status(self, file_id: str) -> str:
        """``created`` / ``uploaded`` / ``transcoded`` (``files.show``)."""
        return self.project.show_file(file_id).status or ""

    # --- webhooks -------------------------------------------------------------------------------
    def webhooks(self) -> list[WebhookInfo]:
        """Every webhook of the project's workspace (``webhooks.index``, all pages)."""
        client = self.project.client
        items: list[Any] = []
        after: str | None = None
        while True:
            pager = self.project.call(
                "webhooks.index",
                client.webhooks.index,
                self.account_id,
                self.workspace_id,
                page_size=PAGE_SIZE,
                after=after,
            )
            items.extend(pager.items or [])
            after = _next_cursor(pager)
            if not after:
                return [_webhook(item) for item in items]

    def create_webhook(self, name: str, url: str, events: list[str]) -> tuple[WebhookInfo, str]:
        """Create a workspace webhook; returns it and its signing secret (shown this once).

        Not retried by the SDK (a lost answer would make a second webhook).
        """
        client = self.project.client
        response = self.project.call(
            "webhooks.create",
            client.webhooks.create,
            self.account_id,
            self.workspace_id,
            data=WebhookCreateParamsData(name=name, url=url, events=events),
            request_options=NO_SDK_RETRY,
        )
        return _webhook(response.data), str(response.data.secret)

    def update_webhook(
        self, webhook_id: str, *, url: str, events: list[str], active: bool
    ) -> WebhookInfo:
        """Set a webhook's URL, events and active flag (``webhooks.update``; the secret
        stays)."""
        client = self.project.client
        response = self.project.call(
            "webhooks.update",
            client.webhooks.update,
            self.account_id,
            webhook_id,
            data=WebhookUpdateParamsData(url=url, events=events, active=active),
        )
        return _webhook(response.data)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete one webhook (``webhooks.delete``)."""
        client = self.project.client
        self.project.call("webhooks.delete", client.webhooks.delete, self.account_id, webhook_id)


def _webhook(item: Any) -> WebhookInfo:
    return WebhookInfo(
        id=item.id,
        name=item.name,
        url=item.url,
        events=tuple(item.events or ()),
        active=bool(item.active) if item.active is not None else True,
    )


def _next_cursor(pager: Any) -> str | None:
    links = getattr(pager.response, "links", None)
    next_link = getattr(links, "next", None)
    if not next_link:
        return None
    cursor = (parse_qs(urlparse(str(next_link)).query).get("after") or [""])[0]
    return cursor or None
