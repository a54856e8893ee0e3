"""Idempotency keys of messages already sent: one message per incident.

Prefect delivers automation actions *at least once* (the actions service may act on the same
triggered action twice), so the ``send-notification`` of an alert can reach the notification
block twice. Each alert message carries a key (an ``Alert id: <key>`` line, see
:mod:`blocks.discord`); :class:`SentKeys` claims each key in the state store's ``alert_keys``
table (:mod:`blocks.store`) with an insert that does nothing when the key is there, so a
duplicate is dropped in the same process, after a restart, and, with the store on PostgreSQL,
by the notification sent from another machine. Earlier versions kept the keys in
``$PREFECT_HOME/postflow-sent-alert-keys.json``; :func:`default_sent_keys` imports that file
once (:mod:`blocks.store.legacy`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from blocks.store import StateStore, open_store
from blocks.store import tables as t
from blocks.store.legacy import SENT_KEYS_FILE, import_file
from core.logs import run_logger
from core.runtime import current_runtime

__all__ = ["SentKeys", "default_sent_keys"]

FILE_NAME = SENT_KEYS_FILE

_log = run_logger("postflow.cli.alerts")


class SentKeys:
    """A bounded set of sent keys with an atomic check-and-claim.

    Args:
        store: the state store (its installation scopes the keys); None keeps them in memory
            only (the store could not be opened).
        max_keys: the oldest keys beyond this are forgotten.
        clock: Unix time in seconds (injected in tests).
    """

    def __init__(
        self,
        store: StateStore | None,
        max_keys: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.clock = store, clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._memory: set[str] = set()

    def claim(self, key: str) -> bool:
        """Mark ``key`` sent; True when it was new (send now), False for a duplicate.

        A store that cannot be written is logged; the key is then kept in memory only.
        """
        key = key[:255]
        with self._lock:
            if key in self._memory:
                return False
            self._memory.add(key)
            if self.store is None:
                return True
            try:
                return self._claim_in_store(self.store, key)
            except OSError as exc:  # StateStoreError: memory still drops duplicates here
                _log.warning("Cannot record alert key %s in the state store: %s", key, exc)
                return True

    def _claim_in_store(self, store: StateStore, key: str) -> bool:
        with store.write() as db:
            row = {"key": key, "sent_at": self.clock()}
            new = bool(db.execute(store.insert_missing(t.alert_keys, row)).rowcount)
            oldest = (
                select(t.alert_keys.c.key)
                .where(store.where(t.alert_keys))
                .order_by(t.alert_keys.c.sent_at.desc(), t.alert_keys.c.key)
                .offset(self.max_keys)
            )
            stale = list(db.execute(oldest).scalars())
            if stale:
                gone = t.alert_keys.delete().where(
                    store.where(t.alert_keys), t.alert_keys.c.key.in_(stale)
                )
                db.execute(gone)
            return new

    def release(self, key: str) -> None:
        """Forget ``key`` (its message could not be sent: a retry may send it)."""
        key = key[:255]
        with self._lock:
            self._memory.discard(key)
            if self.store is None:
                return
            try:
                with self.store.write() as db:
                    db.execute(
                        t.alert_keys.delete().where(
                            self.store.where(t.alert_keys), t.alert_keys.c.key == key
                        )
                    )
            except OSError as exc:
                _log.warning("Cannot forget alert key %s in the state store: %s", key, exc)


def default_sent_keys() -> SentKeys:
    """The process's keys (one per :class:`~core.runtime.Runtime`), in the state store the
    ``POSTFLOW_*`` settings name, after a one-time import of
    ``$PREFECT_HOME/postflow-sent-alert-keys.json``. When the store cannot be opened (logged
    once), the keys are kept in this process's memory."""
    return current_runtime().state("sent-alert-keys", _open_sent_keys)


def _open_sent_keys() -> SentKeys:
    from prefect.settings import get_current_settings

    from config.settings import PostflowSettings

    store: StateStore | None = None
    try:
        store = open_store(PostflowSettings())
        import_file(store, Path(get_current_settings().home) / FILE_NAME)
    except (OSError, ValueError) as exc:  # StateStoreError; invalid settings
        _log.warning("Alert keys: %s", exc if store else f"kept in memory only: {exc}")
    return SentKeys(store)
