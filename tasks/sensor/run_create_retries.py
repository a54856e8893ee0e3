"""Ingest runs the sensor could not create yet, kept in the state store across restarts.

In deployment mode the sensor creates each ready file's ``ingest-file`` run itself
(:class:`tasks.sensor.dispatch.DeploymentDispatcher`). When the Prefect API is unreachable or the
deployment is not registered yet, the create is tried again after a doubling wait, up to
``run_create_max_attempts`` times. :class:`RunCreateRetries` keeps each waiting create as a row
of the ``run_create_retries`` table (:mod:`blocks.store`): a restarted sensor, or the sensor of
another machine sharing the store, goes on with the same idempotency key, attempt count and
due time, instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from blocks.store import StateStore
from blocks.store import tables as t

__all__ = ["PendingCreate", "RunCreateRetries"]


@dataclass(frozen=True)
class PendingCreate:
    """One file version whose run is still to be created.

    Attributes:
        key: its dispatch-ledger key.
        path: the file's absolute path.
        size_bytes: its size then (bytes).
        mtime_ns: its modification time then (nanoseconds).
        idempotency_key: the key its run is created with (the same on every attempt).
        attempt: attempts made so far (1 after the first).
        due_at: Unix time (seconds) of the next attempt.
    """

    key: str
    path: str
    size_bytes: int
    mtime_ns: int
    idempotency_key: str
    attempt: int
    due_at: float


class RunCreateRetries:
    """The waiting creates of one installation's production.

    Args:
        store: the state store.

    Every method raises ``StateStoreError`` (an ``OSError``) when the store cannot be used.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def put(self, pending: PendingCreate) -> None:
        """Record (or replace) a waiting create."""
        values = {
            **pending.__dict__,
            "key": t.encode_text(pending.key),
            "path": t.encode_text(pending.path),
            "idempotency_key": t.encode_text(pending.idempotency_key),
        }
        with self.store.write() as db:
            db.execute(self.store.upsert(t.run_create_retries, values))

    def drop(self, key: str) -> None:
        """Forget the create of ``key`` (its run exists, or it was given up)."""
        table = t.run_create_retries
        with self.store.write() as db:
            db.execute(
                table.delete().where(self.store.where(table), table.c.key == t.encode_text(key))
            )

    def all(self) -> list[PendingCreate]:
        """Every waiting create, soonest due first."""
        table = t.run_create_retries
        query = select(table).where(self.store.where(table)).order_by(table.c.due_at)
        with self.store.read() as db:
            rows = db.execute(query).all()
        return [
            PendingCreate(
                t.decode_text(row.key),
                t.decode_text(row.path),
                row.size_bytes,
                row.mtime_ns,
                t.decode_text(row.idempotency_key),
                row.attempt,
                row.due_at,
            )
            for row in rows
        ]
