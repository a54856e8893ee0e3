"""The sandbox's review data: webhooks, comments and each file's review "Status".

Rows live in the sandbox's SQLite database (`db.py`) beside the asset tree:

* `webhooks`: what `webhooks.create` made (name, url, events, active, the signing secret: the
  secret is shown only in the create answer, as Frame.io does).
* `comments`: the file, text, `timestamp` (a frame number; rendered as a timecode when asked),
  `duration` in frames, created/completed times.
* `review_status`: one select value per file of the built-in "Status" field (`STATUS_FIELD_ID`,
  options in `STATUS_OPTIONS`). Frame.io does not document that such a field is built in, nor
  its option names: a guess (FIDELITY.md).

Every mutation returns the webhook events it causes (`[(event type, resource id, type)]`); the
API layer hands them to the deliverer (`webhook_delivery.py`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from postflow.sandbox.db import Database, from_iso, to_iso, utc_now
from postflow.sandbox.records import AssetNotFound

__all__ = [
    "STATUS_FIELD_ID",
    "STATUS_FIELD_NAME",
    "STATUS_OPTIONS",
    "Comment",
    "ReviewStore",
    "Webhook",
]

STATUS_FIELD_ID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e7a0"
STATUS_FIELD_NAME = "Status"
STATUS_OPTIONS: dict[str, str] = {  # option id -> display name (a guess, see FIDELITY.md)
    "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e7a1": "Needs Review",
    "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e7a2": "In Progress",
    "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e7a3": "Approved",
}

REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    active INTEGER NOT NULL,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    file_id TEXT NOT NULL,
    text TEXT NOT NULL,
    frame INTEGER,
    duration INTEGER,
    owner_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE TABLE IF NOT EXISTS review_status (
    file_id TEXT PRIMARY KEY,
    option_id TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

Event = tuple[str, str, str]  # (event type, resource id, resource type)


@dataclass(frozen=True)
class Webhook:
    """One webhook row (`secret` never leaves the sandbox except in the create answer)."""

    id: str
    name: str
    url: str
    events: list[str]
    active: bool
    secret: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Webhook:
        """Build from a `webhooks` row."""
        return cls(
            id=row["id"],
            name=row["name"],
            url=row["url"],
            events=json.loads(row["events"]),
            active=bool(row["active"]),
            secret=row["secret"],
            created_at=from_iso(row["created_at"]) or utc_now(),
            updated_at=from_iso(row["updated_at"]) or utc_now(),
        )


@dataclass(frozen=True)
class Comment:
    """One comment row; `frame` is the timestamp in frames (None: not on the timeline)."""

    id: str
    file_id: str
    text: str
    frame: int | None
    duration: int | None
    owner_name: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Comment:
        """Build from a `comments` row."""
        return cls(
            id=row["id"],
            file_id=row["file_id"],
            text=row["text"],
            frame=row["frame"],
            duration=row["duration"],
            owner_name=row["owner_name"],
            created_at=from_iso(row["created_at"]) or utc_now(),
            updated_at=from_iso(row["updated_at"]) or utc_now(),
            completed_at=from_iso(row["completed_at"]),
        )


class ReviewStore:
    """Webhooks, comments and review statuses of one sandbox (thread-safe, atomic methods)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.executescript(REVIEW_SCHEMA)

    # --- webhooks -------------------------------------------------------------------------------
    def create_webhook(self, name: str, url: str, events: list[str]) -> Webhook:
        """Create an active webhook with a fresh 32-byte hex secret."""
        now = to_iso(utc_now())
        webhook_id = str(uuid.uuid4())
        self._db.execute(
            "INSERT INTO webhooks (id, name, url, events, active, secret, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
            (webhook_id, name, url, json.dumps(events), secrets.token_hex(32), now, now),
        )
        return self.webhook(webhook_id)

    def webhooks(self) -> list[Webhook]:
        """Every webhook, oldest first."""
        return [Webhook.from_row(r) for r in self._db.query("SELECT * FROM webhooks ORDER BY seq")]

    def webhook(self, webhook_id: str) -> Webhook:
        """One webhook.

        Raises:
            AssetNotFound: unknown id.
        """
        row = self._db.query_one("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        if row is None:
            raise AssetNotFound("webhook", webhook_id)
        return Webhook.from_row(row)

    def update_webhook(self, webhook_id: str, changes: dict[str, Any]) -> Webhook:
        """Apply `changes` (any of name, url, events, active).

        Raises:
            AssetNotFound: unknown id.
        """
        with self._db.transaction():
            current = self.webhook(webhook_id)
            self._db.execute(
                "UPDATE webhooks SET name = ?, url = ?, events = ?, active = ?, updated_at = ?"
                " WHERE id = ?",
                (
                    changes.get("name") or current.name,
                    changes.get("url") or current.url,
                    json.dumps(changes.get("events") or current.events),
                    int(changes["active"] if changes.get("active") is not None else current.active),
                    to_iso(utc_now()),
                    webhook_id,
                ),
            )
            return self.webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete one webhook.

        Raises:
            AssetNotFound: unknown id.
        """
        if self._db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount != 1:
            raise AssetNotFound("webhook", webhook_id)

    # --- comments -------------------------------------------------------------------------------
    def add_comment(
        self,
        file_id: str,
        text: str,
        frame: int | None = None,
        *,
        duration: int | None = None,
        owner_name: str = "",
    ) -> tuple[Comment, list[Event]]:
        """Add a comment to a file (which the caller checked exists); returns it and its event."""
        now = to_iso(utc_now())
        comment_id = str(uuid.uuid4())
        self._db.execute(
            "INSERT INTO comments (id, file_id, text, frame, duration, owner_name, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (comment_id, file_id, text, frame, duration, owner_name, now, now),
        )
        return self.comment(comment_id), [("comment.created", comment_id, "comment")]

    def comment(self, comment_id: str) -> Comment:
        """One comment.

        Raises:
            AssetNotFound: unknown id.
        """
        row = self._db.query_one("SELECT * FROM comments WHERE id = ?", (comment_id,))
        if row is None:
            raise AssetNotFound("comment", comment_id)
        return Comment.from_row(row)

    def comments(self, file_id: str) -> list[Comment]:
        """A file's comments, oldest first."""
        rows = self._db.query("SELECT * FROM comments WHERE file_id = ? ORDER BY seq", (file_id,))
        return [Comment.from_row(r) for r in rows]

    def update_comment(
        self, comment_id: str, *, text: str | None = None, completed: bool | None = None
    ) -> tuple[Comment, list[Event]]:
        """Edit a comment's text and/or (un)complete it; returns it and the events caused.

        Raises:
            AssetNotFound: unknown id.
        """
        events: list[Event] = []
        with self._db.transaction():
            before = self.comment(comment_id)
            now = to_iso(utc_now())
            completed_at = to_iso(before.completed_at)
            if completed is True and before.completed_at is None:
                completed_at = now
                events.append(("comment.completed", comment_id, "comment"))
            elif completed is False and before.completed_at is not None:
                completed_at = None
                events.append(("comment.uncompleted", comment_id, "comment"))
            if text is not None and text != before.text:
                events.append(("comment.updated", comment_id, "comment"))
            self._db.execute(
                "UPDATE comments SET text = ?, completed_at = ?, updated_at = ? WHERE id = ?",
                (before.text if text is None else text, completed_at, now, comment_id),
            )
            return self.comment(comment_id), events

    # --- review status --------------------------------------------------------------------------
    def status(self, file_id: str) -> str | None:
        """The option id of a file's Status, or None when unset."""
        row = self._db.query_one(
            "SELECT option_id FROM review_status WHERE file_id = ?", (file_id,)
        )
        return None if row is None else str(row["option_id"])

    def set_status(self, file_ids: list[str], option_id: str | None) -> list[Event]:
        """Set (or clear, with None) the Status of files; one event per file whose value changed.

        Raises:
            ValueError: `option_id` is not one of `STATUS_OPTIONS`.
        """
        if option_id is not None and option_id not in STATUS_OPTIONS:
            raise ValueError(f"unknown Status option {option_id}")
        events: list[Event] = []
        with self._db.transaction():
            for file_id in file_ids:
                if self.status(file_id) == option_id:
                    continue
                if option_id is None:
                    self._db.execute("DELETE FROM review_status WHERE file_id = ?", (file_id,))
                else:
                    self._db.execute(
                        "INSERT INTO review_status (file_id, option_id, updated_at)"
                        " VALUES (?, ?, ?) ON CONFLICT (file_id) DO UPDATE"
                        " SET option_id = excluded.option_id, updated_at = excluded.updated_at",
                        (file_id, option_id, to_iso(utc_now())),
                    )
                events.append(("metadata.value.updated", file_id, "file"))
        return events

    def reset(self) -> None:
        """Forget every webhook, comment and status."""
        with self._db.transaction():
            for table in ("webhooks", "comments", "review_status"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names


def status_option_id(display_name: str) -> str:
    """The option id of a Status display name (case-insensitive).

    Raises:
        ValueError: no such option.
    """
    for option_id, name in STATUS_OPTIONS.items():
        if name.lower() == display_name.strip().lower():
            return option_id
    names = ", ".join(STATUS_OPTIONS.values())
    raise ValueError(f"unknown Status {display_name!r}: one of {names}")
