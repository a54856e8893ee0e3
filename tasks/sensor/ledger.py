"""The sensor's dispatch ledger: each ready file version is handed to ingest exactly once.

The ``ledger`` table of the state store (:mod:`blocks.store`). Each file version has a run key
``"<relative path>:<size>:<mtime_ns>"`` (the Dagster-sensor pattern) and one row:

* inserted (committed) with ``dispatched_at`` *before* the ingest starts;
* given ``finished_at`` and ``ok`` when the ingest returns.

On restart, a key that is finished is never sent again; a key that was dispatched but never
finished (the process died mid-ingest) is sent once more. That cannot duplicate a file,
because ingest itself is idempotent (same name and size in the shot folder is skipped), and
it cannot lose one. With the store on PostgreSQL, a key finished on any machine is finished
for all.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from blocks.store import StateStore
from blocks.store import tables as t


class DispatchLedger:
    """Thread-safe record of dispatched and finished file versions.

    Args:
        store: the state store (its scope: the installation and production).

    Raises:
        StateStoreError: the store cannot be read (an ``OSError``).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._dispatched: set[str] = set()  # by this object, not yet finished
        self._finished: dict[str, bool] = {}  # known finished (a cache of the table)
        with store.read() as db:
            rows = db.execute(
                select(t.ledger.c.key, t.ledger.c.finished_at, t.ledger.c.ok).where(
                    store.where(t.ledger)
                )
            ).all()
        for key, finished_at, ok in rows:
            if finished_at is not None:
                self._finished[t.decode_text(key)] = bool(ok)
        # Dispatched by an earlier process but never finished: eligible again.
        self._interrupted = sorted(
            t.decode_text(key) for key, finished_at, _ in rows if finished_at is None
        )

    def _finished_in_store(self, key: str) -> bool:
        if key in self._finished:
            return True
        query = select(t.ledger.c.ok).where(
            self.store.where(t.ledger),
            t.ledger.c.key == t.encode_text(key),
            t.ledger.c.finished_at.is_not(None),
        )
        with self.store.read() as db:
            ok = db.execute(query).first()
        if ok is not None:
            self._finished[key] = bool(ok[0])
        return ok is not None

    def should_dispatch(self, key: str) -> bool:
        """True when ``key`` has never finished and is not currently dispatched in this process."""
        with self._lock:
            return key not in self._dispatched and not self._finished_in_store(key)

    def interrupted(self) -> list[str]:
        """Keys an earlier process dispatched but never finished; they may be sent again."""
        return list(self._interrupted)

    def _record(self, key: str, *, finished: bool | None = None, ok: bool = False) -> None:
        values: dict[str, object] = {"key": t.encode_text(key)}
        if finished:
            values.update(finished_at=time.time(), ok=ok)
        else:
            values.update(dispatched_at=time.time(), finished_at=None, ok=None)
        with self.store.write() as db:
            if finished:
                done = t.ledger.update().where(
                    self.store.where(t.ledger), t.ledger.c.key == values["key"]
                )
                if db.execute(done.values(finished_at=values["finished_at"], ok=ok)).rowcount:
                    return
                values["dispatched_at"] = values["finished_at"]
            db.execute(self.store.upsert(t.ledger, values))

    def mark_dispatched(self, key: str) -> bool:
        """Record a dispatch; returns False (and records nothing) if it was already recorded
        in this process or has finished."""
        with self._lock:
            if key in self._dispatched or self._finished_in_store(key):
                return False
            self._dispatched.add(key)
            self._record(key)
            return True

    def mark_retrying(self, key: str) -> bool:
        """Record a retry of a finished ``key`` (the retry queue's): it counts as dispatched
        again, so a restart during the retry sends it once more. Returns False (and records
        nothing) while ``key`` is being ingested in this process."""
        with self._lock:
            if key in self._dispatched and key not in self._finished:
                return False
            self._finished.pop(key, None)
            self._dispatched.add(key)
            self._record(key)
            return True

    def mark_finished(self, key: str, ok: bool) -> None:
        """Record the outcome of an ingest; the key is never dispatched again."""
        with self._lock:
            self._finished[key] = ok
            self._record(key, finished=True, ok=ok)

    def counts(self) -> dict[str, int]:
        """Return ``{"dispatched", "finished", "failed"}`` counts (for status output):
        dispatched by this object; finished and failed as far as this object has read or
        written them (any process's)."""
        with self._lock:
            failed = sum(1 for ok in self._finished.values() if not ok)
            return {
                "dispatched": len(self._dispatched),
                "finished": len(self._finished),
                "failed": failed,
            }
