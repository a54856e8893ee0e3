"""The review loop's rows in the state store: each file's Discord message, what was announced.

Three tables (:mod:`blocks.store.tables`), shared by every machine of the installation:

* ``review_files``: per Frame.io file, the Discord message its upload was announced by (id,
  embed, block), whether Frame.io said it is ready and whether the message was edited to
  "playable", the last review Status announced, and the poll's cursor;
* ``review_deliveries``: the key of each webhook delivery handled (a duplicate is dropped);
* ``review_effects``: the key of each reply posted (``comment.created:<id>``...), claimed
  before posting by the webhook handler *and* the poll, so the two never post twice.

Every "claim" is one atomic statement (an insert that does nothing on conflict, or an update
with its condition), so two processes racing for the same effect get one winner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from blocks.store import StateStore
from blocks.store import tables as t

__all__ = ["ReviewBook", "ReviewFile"]

DELIVERY_KEYS_KEPT_SECONDS = 7 * 24 * 3600.0  # Frame.io retries for minutes, not days
UNANNOUNCED_KEPT_SECONDS = 24 * 3600.0  # an ingest posts its message seconds after file.ready


@dataclass(frozen=True)
class ReviewFile:
    """A ``review_files`` row.

    Attributes:
        file_id: the Frame.io file.
        block: the Discord block its message went through (None: no message yet).
        message_id: the Discord message id (None: not posted yet).
        embed: the message's embed as a dict (None: not posted yet).
        label: "SC01 / 00412 V002" ("" unknown).
        language: ``"en"`` or ``"fr"``.
        ready_at / playable_at / polled_at: Unix seconds, or None.
        status: the last review Status announced ("" none).
        comments_after: ISO time of the newest comment the poll has seen ("" none).
    """

    file_id: str
    block: str | None
    message_id: str | None
    embed: dict[str, Any] | None
    label: str
    language: str
    ready_at: float | None
    playable_at: float | None
    status: str
    comments_after: str
    polled_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> ReviewFile:
        """Build from a ``review_files`` row."""
        return cls(
            file_id=row.file_id,
            block=row.block,
            message_id=row.message_id,
            embed=json.loads(row.embed) if row.embed else None,
            label=row.label,
            language=row.language,
            ready_at=row.ready_at,
            playable_at=row.playable_at,
            status=row.status,
            comments_after=row.comments_after,
            polled_at=row.polled_at,
        )


class ReviewBook:
    """Reads and claims of the review loop over one :class:`StateStore`.

    Args:
        store: the state store (its installation scopes every row).
        clock: Unix seconds (injected in tests).

    Every method raises :class:`core.errors.StateStoreError` when the store cannot be used.
    """

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    # --- deliveries and effects -----------------------------------------------------------------
    def claim_delivery(self, key: str) -> bool:
        """Record a webhook delivery key; True when it was new (forgets week-old keys)."""
        now = self.clock()
        table = t.review_deliveries
        with self.store.write() as db:
            row = {"key": key[:255], "received_at": now}
            new = bool(db.execute(self.store.insert_missing(table, row)).rowcount)
            cutoff = now - DELIVERY_KEYS_KEPT_SECONDS
            db.execute(table.delete().where(self.store.where(table), table.c.received_at < cutoff))
        return new

    def claim_effect(self, key: str) -> bool:
        """Claim an effect (a reply to post); True when this caller should post it."""
        row = {"key": key[:255], "done_at": self.clock()}
        with self.store.write() as db:
            return bool(db.execute(self.store.insert_missing(t.review_effects, row)).rowcount)

    def release_effect(self, key: str) -> None:
        """Give a claimed effect back (its message could not be posted)."""
        table = t.review_effects
        with self.store.write() as db:
            db.execute(table.delete().where(self.store.where(table), table.c.key == key[:255]))

    # --- files ----------------------------------------------------------------------------------
    def file(self, file_id: str) -> ReviewFile | None:
        """The row of a file, or None when nothing of it was recorded."""
        table = t.review_files
        with self.store.read() as db:
            row = db.execute(
                select(table).where(self.store.where(table), table.c.file_id == file_id)
            ).first()
        return None if row is None else ReviewFile.from_row(row)

    def record_message(
        self,
        file_id: str,
        *,
        block: str,
        message_id: str,
        embed: dict[str, Any],
        label: str,
        language: str,
    ) -> ReviewFile:
        """Keep the Discord message that announced a file (a re-announce replaces it; ready,
        Status and the poll cursor stay)."""
        values = {
            "block": block,
            "message_id": message_id,
            "embed": json.dumps(embed),
            "label": label,
            "language": language,
            "posted_at": self.clock(),
            "playable_at": None,
        }
        table = t.review_files
        with self.store.write() as db:
            db.execute(self.store.insert_missing(table, _blank(file_id)))
            db.execute(
                table.update()
                .where(self.store.where(table), table.c.file_id == file_id)
                .values(**values)
            )
        row = self.file(file_id)
        assert row is not None  # written just above
        return row

    def mark_ready(self, file_id: str) -> None:
        """Frame.io says the file is playable (a row is made when its message is not yet;
        such rows of files never announced, other projects' files, go after a day)."""
        table = t.review_files
        with self.store.write() as db:
            db.execute(
                table.delete().where(
                    self.store.where(table),
                    table.c.message_id.is_(None),
                    table.c.ready_at < self.clock() - UNANNOUNCED_KEPT_SECONDS,
                )
            )
            db.execute(self.store.insert_missing(table, _blank(file_id)))
            db.execute(
                table.update()
                .where(self.store.where(table), table.c.file_id == file_id)
                .where(table.c.ready_at.is_(None))
                .values(ready_at=self.clock())
            )

    def claim_playable(self, file_id: str) -> ReviewFile | None:
        """Claim the "playable" edit: the row when it is ready, posted and not yet edited."""
        table = t.review_files
        with self.store.write() as db:
            done = db.execute(
                table.update()
                .where(self.store.where(table), table.c.file_id == file_id)
                .where(table.c.ready_at.is_not(None), table.c.message_id.is_not(None))
                .where(table.c.playable_at.is_(None))
                .values(playable_at=self.clock())
            ).rowcount
        return self.file(file_id) if done else None

    def release_playable(self, file_id: str) -> None:
        """Undo :meth:`claim_playable` (the edit failed: a later delivery or poll retries)."""
        self._set(file_id, playable_at=None)

    def swap_status(self, file_id: str, status: str) -> str | None:
        """Record ``status`` as announced; returns the previous one when it changed (post a
        message then), None when it was already announced (or the file is not ours)."""
        table = t.review_files
        with self.store.write() as db:
            row = db.execute(
                self.store.locked(
                    select(table.c.status).where(
                        self.store.where(table), table.c.file_id == file_id
                    )
                )
            ).first()
            if row is None or row.status == status:
                return None
            db.execute(
                table.update()
                .where(self.store.where(table), table.c.file_id == file_id)
                .values(status=status)
            )
            return str(row.status)

    def restore_status(self, file_id: str, status: str) -> None:
        """Put the announced Status back (its message could not be posted)."""
        self._set(file_id, status=status)

    def due_for_poll(self, limit: int) -> list[ReviewFile]:
        """Up to ``limit`` posted files, least recently polled first."""
        table = t.review_files
        statement = (
            select(table)
            .where(self.store.where(table), table.c.message_id.is_not(None))
            .order_by(table.c.polled_at.is_not(None), table.c.polled_at, table.c.file_id)
            .limit(limit)
        )
        with self.store.read() as db:
            return [ReviewFile.from_row(row) for row in db.execute(statement)]

    def mark_polled(self, file_id: str, comments_after: str) -> None:
        """Record a poll of the file and the newest comment time it saw."""
        self._set(file_id, polled_at=self.clock(), comments_after=comments_after)

    def _set(self, file_id: str, **values: Any) -> None:
        table = t.review_files
        with self.store.write() as db:
            db.execute(
                table.update()
                .where(self.store.where(table), table.c.file_id == file_id)
                .values(**values)
            )


def _blank(file_id: str) -> dict[str, Any]:
    return {"file_id": file_id, "label": "", "language": "en", "status": "", "comments_after": ""}
