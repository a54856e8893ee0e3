"""The deliveries of a production, in the state store: the source of truth of its manifest.

One row per Frame.io file (``tables.deliveries``, keyed by its file id, so recording the same
upload twice is a no-op): the source's path relative to the watch folder, size, mtime, XXH3-128
and when it was delivered. ``generation`` is NULL until the row is written into an MHL
generation (:mod:`tasks.manifest.history`).

Writing a generation is claimed through a lease row (``tables.manifest_writers``), taken and
released in short transactions: whichever process or machine shares the store, one writes a
production's history at a time, and no store transaction stays open while the MHL files are
parsed and written (on SQLite that would hold every other writer's lock meanwhile). A writer
that dies leaves its lease to expire after :data:`LEASE_SECONDS`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update

from blocks.store import StateStore
from blocks.store import tables as t

__all__ = ["LEASE_SECONDS", "Delivery", "DeliveryLog", "WriterState"]

LEASE_SECONDS = 600.0
"""How long a claim to write the history lasts; writing one generation takes seconds."""


@dataclass(frozen=True)
class Delivery:
    """One delivered file.

    Attributes:
        rel_path: its path relative to the watch folder, POSIX separators.
        size_bytes: its size when it was sent (bytes).
        mtime_ns: its modification time then (nanoseconds since the epoch).
        xxh128: XXH3-128 of its bytes, 32 lowercase hex digits (ASC MHL's ``xxh128``).
        file_id: the Frame.io file id.
        view_url: the Frame.io web-app link.
        delivered_at: when the upload completed (Unix seconds, UTC).
        generation: the MHL generation that holds it; None until written.
    """

    rel_path: str
    size_bytes: int
    mtime_ns: int
    xxh128: str
    file_id: str
    view_url: str
    delivered_at: float
    generation: int | None = None


@dataclass(frozen=True)
class WriterState:
    """What the store knows of a production's MHL history.

    Attributes:
        last_generation: the newest generation written (None: none yet).
        last_generation_file: its .mhl path as written.
        written_at: when it was written (Unix seconds).
    """

    last_generation: int | None = None
    last_generation_file: str | None = None
    written_at: float | None = None


_COLUMNS = (
    t.deliveries.c.rel_path,
    t.deliveries.c.size_bytes,
    t.deliveries.c.mtime_ns,
    t.deliveries.c.xxh128,
    t.deliveries.c.file_id,
    t.deliveries.c.view_url,
    t.deliveries.c.delivered_at,
    t.deliveries.c.generation,
)


def _delivery(row: Iterable[object]) -> Delivery:
    values = list(row)
    values[0] = t.decode_text(str(values[0]))
    return Delivery(*values)  # type: ignore[arg-type]


class DeliveryLog:
    """The deliveries and the history lease of the store's installation and production.

    Args:
        store: the state store (its scope: installation and production).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.holder = f"{socket.gethostname()[:200]}:{os.getpid()}"

    def record(self, delivery: Delivery) -> bool:
        """Add ``delivery`` (pending); True when new, False when its file id was recorded.

        Raises:
            StateStoreError: the store cannot be written.
        """
        values = {c.name: getattr(delivery, c.name) for c in _COLUMNS}
        values["rel_path"] = t.encode_text(delivery.rel_path)
        values["generation"] = None
        with self.store.write() as db:
            done = db.execute(self.store.insert_missing(t.deliveries, values))
        return bool(done.rowcount)

    def listed(self, since: float | None = None, pending_only: bool = False) -> list[Delivery]:
        """Deliveries oldest first, those at or after ``since`` (Unix seconds) when given.

        Raises:
            StateStoreError: the store cannot be read.
        """
        query = select(*_COLUMNS).where(self.store.where(t.deliveries))
        if since is not None:
            query = query.where(t.deliveries.c.delivered_at >= since)
        if pending_only:
            query = query.where(t.deliveries.c.generation.is_(None))
        query = query.order_by(t.deliveries.c.delivered_at, t.deliveries.c.file_id)
        with self.store.read() as db:
            return [_delivery(row) for row in db.execute(query)]

    def count_since(self, since: float) -> int:
        """Deliveries at or after ``since`` (Unix seconds).

        Raises:
            StateStoreError: the store cannot be read.
        """
        query = select(func.count()).where(
            self.store.where(t.deliveries), t.deliveries.c.delivered_at >= since
        )
        with self.store.read() as db:
            return int(db.execute(query).scalar() or 0)

    def state(self) -> WriterState:
        """What the store knows of the history (nothing written yet: all None).

        Raises:
            StateStoreError: the store cannot be read.
        """
        c = t.manifest_writers.c
        query = select(c.last_generation, c.last_generation_file, c.written_at).where(
            self.store.where(t.manifest_writers)
        )
        with self.store.read() as db:
            row = db.execute(query).first()
        return WriterState() if row is None else WriterState(*row)

    def claim(self, now: float | None = None) -> bool:
        """Take the lease to write the history: True unless another holder's is still valid.

        Raises:
            StateStoreError: the store cannot be written.
        """
        now = time.time() if now is None else now
        c = t.manifest_writers.c
        mine = {"holder": self.holder, "lease_until": now + LEASE_SECONDS}
        with self.store.write() as db:
            query = select(c.holder, c.lease_until).where(self.store.where(t.manifest_writers))
            row = db.execute(self.store.locked(query)).first()
            if row is None:
                db.execute(self.store.insert_missing(t.manifest_writers, mine))
                return True
            if row.holder not in (None, self.holder) and row.lease_until > now:
                return False
            db.execute(
                update(t.manifest_writers)
                .where(self.store.where(t.manifest_writers))
                .values(**mine)
            )
        return True

    def release(self, written: tuple[int, str, list[str]] | None = None) -> None:
        """Give the lease back; with ``written = (generation, file, file ids)`` first mark
        those deliveries as written in it, in the same transaction.

        Raises:
            StateStoreError: the store cannot be written.
        """
        c = t.manifest_writers.c
        free: dict[str, object] = {"holder": None, "lease_until": 0.0}
        with self.store.write() as db:
            if written is not None:
                number, path, file_ids = written
                db.execute(
                    update(t.deliveries)
                    .where(self.store.where(t.deliveries), t.deliveries.c.file_id.in_(file_ids))
                    .values(generation=number)
                )
                free.update(last_generation=number, last_generation_file=path)
                free["written_at"] = time.time()
            db.execute(
                update(t.manifest_writers)
                .where(self.store.where(t.manifest_writers), c.holder == self.holder)
                .values(**free)
            )
