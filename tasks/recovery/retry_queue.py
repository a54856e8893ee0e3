"""The retry queue: ingests that failed for a transient reason are tried again, without a human.

An outage of Frame.io (5xx, 429 storms, a dropped network) outlasts Prefect's in-run retries;
the file versions that failed that way wait here with exponential backoff, and the sensor
(and ``postflow up``) dispatches each again when it is :meth:`RetryQueue.due`. Permanent
failures (a bad name, 403, 404, 422: :func:`core.errors.is_transient` is False) are never
queued: retrying cannot fix them, a person must act.

* Keyed by the file version key ``"<rel path>:<size>:<mtime_ns>"``
  (:meth:`tasks.sensor.readiness.FileVersion.key`, the ledger's key): a re-render is a new key.
* Backoff after the n-th failure: ``base_delay_seconds * 2**(n-1)``, capped at
  ``max_delay_seconds`` (30 s, 1 min, 2 min, ... 30 min), or the server's ``Retry-After``
  when that is longer.
* An entry whose first failure is ``give_up_after_seconds`` old (24 h) when it fails again is
  *given up*: moved to the gave-up list, returned flagged so the caller reports it once,
  and kept there (for ``postflow status``) until :meth:`RetryQueue.forget`.
* Persisted in the state store's ``retry_queue`` table (:mod:`blocks.store`), one row per
  key, changed in one transaction that locks the row: it survives ``kill -9``, the ingest
  runs of other processes (and, on PostgreSQL, other machines) record their failures in it,
  and ``postflow status`` reads it with :func:`read_retry_queue`.

Nothing here imports Prefect; the clock is injected (Unix time in seconds, as the rows are
shared across processes, machines and restarts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Row, select

from blocks.store import StateStore, local_store
from blocks.store import tables as t
from core.errors import is_transient

__all__ = ["RetryEntry", "RetryQueue", "classify_failure", "read_retry_queue"]


@dataclass(frozen=True)
class RetryEntry:
    """One file version waiting for another try.

    Attributes:
        key: the file version key ``"<rel path>:<size>:<mtime_ns>"``.
        path: the file's absolute path (may hold lone surrogates for non-UTF-8 names).
        error_kind: the last failure's kind, e.g. ``"FrameioServerError"``.
        attempts: failures so far (1 after the first; 0 for a version deferred untried).
        first_failed_at: Unix time (s) of the first failure.
        next_attempt_at: Unix time (s) from which the entry is due.
        gave_up_at: Unix time (s) it was given up, or None while it is queued.
    """

    key: str
    path: str
    error_kind: str
    attempts: int
    first_failed_at: float
    next_attempt_at: float
    gave_up_at: float | None = None


class RetryQueue:
    """Transient failures waiting for another try (see the module docstring). Thread-safe.

    Args:
        store: the state store (its scope: the installation and production).
        base_delay_seconds: wait after the first failure, in seconds.
        max_delay_seconds: cap on the wait between tries, in seconds.
        give_up_after_seconds: how long after its first failure an entry is given up, in s.
        clock: Unix time in seconds (injected in tests).

    Raises:
        ValueError: a delay is not positive, or the cap is below the base.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        base_delay_seconds: float = 30.0,
        max_delay_seconds: float = 1800.0,
        give_up_after_seconds: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if base_delay_seconds <= 0 or max_delay_seconds < base_delay_seconds:
            raise ValueError("need 0 < base_delay_seconds <= max_delay_seconds")
        if give_up_after_seconds <= 0:
            raise ValueError("give_up_after_seconds must be > 0")
        self.store = store
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.give_up_after_seconds = give_up_after_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._claimed: set[str] = set()  # handed out by due(), not yet reported back

    @classmethod
    def in_state_dir(cls, state_dir: Path, **options: Any) -> RetryQueue:
        """The queue in ``<state_dir>/state.db`` (:func:`blocks.store.local_store`);
        ``options`` as for the constructor."""
        return cls(local_store(state_dir), **options)

    def delay_seconds(self, attempts: int) -> float:
        """Wait in seconds after the ``attempts``-th failure (1-based), before any Retry-After."""
        exponent = min(max(attempts, 1) - 1, 60)
        return float(min(self.base_delay_seconds * 2**exponent, self.max_delay_seconds))

    def add(
        self,
        key: str,
        path: str,
        error_kind: str,
        transient: bool,
        *,
        retry_after_seconds: float | None = None,
    ) -> RetryEntry | None:
        """Record a failed ingest of ``key``.

        Args:
            key: the file version key.
            path: the file's absolute path.
            error_kind: a short name of the failure (e.g. the exception class name).
            transient: whether a later try may succeed (:func:`classify_failure`).
            retry_after_seconds: the server's requested wait, in seconds, when it sent one.

        Returns:
            None for a permanent failure (never queued; an earlier entry for ``key`` is
            dropped). Otherwise the entry as stored: queued with its ``next_attempt_at``, or,
            when its first failure is ``give_up_after_seconds`` old, with ``gave_up_at`` set
            (report it; it will not be returned by :meth:`due` again).

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        now = self.clock()
        with self._lock, self.store.write() as db:
            self._claimed.discard(key)
            old = self._locked(db, key)
            old = old if old is not None and old.gave_up_at is None else None
            if not transient:
                self._delete(db, key)
                return None
            attempts = old.attempts + 1 if old else 1
            first = old.first_failed_at if old else now
            wait = max(self.delay_seconds(attempts), retry_after_seconds or 0.0)
            entry = RetryEntry(key, path, error_kind, attempts, first, now + wait)
            if now - first >= self.give_up_after_seconds:
                entry = replace(entry, gave_up_at=now)
            self._put(db, entry)
            return entry

    def defer(self, key: str, path: str, until: float, reason: str = "circuit open") -> RetryEntry:
        """Queue a ready file version that was *not tried* (e.g. the circuit breaker is open).

        No attempt is counted. An entry already queued keeps its attempts and becomes due at
        the later of its own time and ``until``.

        Args:
            key: the file version key.
            path: the file's absolute path.
            until: Unix time in seconds before which it is not due (e.g. the breaker's
                ``probe_at``).
            reason: stored as ``error_kind`` for a new entry.

        Returns:
            The entry as stored.

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        now = self.clock()
        with self._lock, self.store.write() as db:
            self._claimed.discard(key)
            old = self._locked(db, key)
            if old is not None and old.gave_up_at is None:
                entry = replace(old, next_attempt_at=max(old.next_attempt_at, until))
            else:
                entry = RetryEntry(key, path, reason, 0, now, until)
            self._put(db, entry)
            return entry

    def due(self, now: float | None = None) -> list[RetryEntry]:
        """Claim and return the queued entries whose time has come, oldest due first.

        A claimed entry is not returned again by this queue object until it is reported
        back with :meth:`add`, :meth:`succeeded`, :meth:`release` or :meth:`forget`; after a
        restart (a new object) it is due again, so a crash mid-retry loses nothing.

        Args:
            now: Unix time in seconds; the injected clock when None.

        Raises:
            StateStoreError: the store cannot be read (an ``OSError``).
        """
        now = self.clock() if now is None else now
        with self._lock:
            entries = self._entries(queued=True)
            ready = [e for e in entries if e.next_attempt_at <= now and e.key not in self._claimed]
            self._claimed.update(e.key for e in ready)
        return sorted(ready, key=lambda e: (e.next_attempt_at, e.key))

    def release(self, key: str) -> None:
        """Un-claim an entry that :meth:`due` returned but that was not dispatched after all."""
        with self._lock:
            self._claimed.discard(key)

    def succeeded(self, key: str) -> bool:
        """Drop ``key`` after a successful ingest; returns True when it was queued or given up.

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        return self.forget(key)

    def forget(self, key: str) -> bool:
        """Drop ``key`` from the queue and the gave-up list (file deleted, reported, rerun).

        Returns:
            True when something was dropped.

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        with self._lock, self.store.write() as db:
            self._claimed.discard(key)
            return self._delete(db, key)

    def pending(self) -> list[RetryEntry]:
        """Every queued entry (claimed or not), soonest due first."""
        entries = self._entries(queued=True)
        return sorted(entries, key=lambda e: (e.next_attempt_at, e.key))

    def gave_up(self) -> list[RetryEntry]:
        """Entries given up after ``give_up_after_seconds``, oldest first."""
        entries = self._entries(queued=False)
        return sorted(entries, key=lambda e: (e.gave_up_at or 0.0, e.key))

    # --- rows ------------------------------------------------------------------------------------
    def _locked(self, db: Connection, key: str) -> RetryEntry | None:
        query = select(t.retry_queue).where(
            self.store.where(t.retry_queue), t.retry_queue.c.key == t.encode_text(key)
        )
        row = db.execute(self.store.locked(query)).first()
        return None if row is None else _entry(row)

    def _put(self, db: Connection, entry: RetryEntry) -> None:
        values = asdict(entry)
        values.update(key=t.encode_text(entry.key), path=t.encode_text(entry.path))
        values["error_kind"] = entry.error_kind[:128]
        db.execute(self.store.upsert(t.retry_queue, values))

    def _delete(self, db: Connection, key: str) -> bool:
        gone = t.retry_queue.delete().where(
            self.store.where(t.retry_queue), t.retry_queue.c.key == t.encode_text(key)
        )
        return bool(db.execute(gone).rowcount)

    def _entries(self, *, queued: bool) -> list[RetryEntry]:
        column = t.retry_queue.c.gave_up_at
        query = select(t.retry_queue).where(
            self.store.where(t.retry_queue), column.is_(None) if queued else column.is_not(None)
        )
        with self.store.read() as db:
            return [_entry(row) for row in db.execute(query)]


def _entry(row: Row[Any]) -> RetryEntry:
    return RetryEntry(
        key=t.decode_text(row.key),
        path=t.decode_text(row.path),
        error_kind=row.error_kind,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        next_attempt_at=row.next_attempt_at,
        gave_up_at=row.gave_up_at,
    )


def classify_failure(exc: BaseException) -> tuple[str, bool]:
    """The ``(error_kind, transient)`` pair :meth:`RetryQueue.add` wants for an exception.

    Transient: :func:`core.errors.is_transient` (the ``FrameioTransientError`` family,
    transient part-upload and notification errors) and network errors that escaped the edge
    mapping (``httpx.TransportError``, ``ConnectionError``, ``TimeoutError``). Everything
    else, naming errors, 401/403/404/400/422 and unknown exceptions (bugs) included, is
    permanent.

    Args:
        exc: the exception the ingest raised.

    Returns:
        The exception's class name and whether a later try may succeed.
    """
    network = isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError)
    return type(exc).__name__, is_transient(exc) or network


def read_retry_queue(store: StateStore, now: float | None = None) -> dict[str, Any]:
    """A summary of the retry queue for ``postflow status`` / ``health`` (any process).

    Args:
        store: the state store (:func:`blocks.store.open_store`).
        now: Unix time in seconds (default: now).

    Returns:
        ``{"queued": int, "due": int, "gave_up": int, "next_attempt_at": float | None,
        "gave_up_paths": [str, ...]}`` (next_attempt_at in Unix seconds).

    Raises:
        StateStoreError: the store cannot be read (an ``OSError``).
    """
    now = time.time() if now is None else now
    queue = RetryQueue(store)
    queued, gave_up = queue.pending(), queue.gave_up()
    return {
        "queued": len(queued),
        "due": sum(1 for e in queued if e.next_attempt_at <= now),
        "gave_up": len(gave_up),
        "next_attempt_at": min((e.next_attempt_at for e in queued), default=None),
        "gave_up_paths": sorted(e.path for e in gave_up),
    }
