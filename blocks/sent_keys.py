"""Idempotency keys of messages already sent: one message per incident.

Prefect delivers automation actions *at least once* (the actions service may act on the same
triggered action twice), so the ``send-notification`` of an alert can reach the notification
block twice. Each alert message carries a key (an ``Alert id: <key>`` line, see
:mod:`blocks.discord`); :class:`SentKeys` remembers the keys sent, in memory and in a small JSON
file next to the Prefect server's data (``$PREFECT_HOME/postflow-sent-alert-keys.json``), so a
duplicate is dropped in the same server process and after a restart.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

__all__ = ["SentKeys", "default_sent_keys"]

FILE_NAME = "postflow-sent-alert-keys.json"


class SentKeys:
    """A bounded set of sent keys with an atomic check-and-claim.

    Args:
        path: the JSON file (``{key: unix seconds}``); None keeps them in memory only.
        max_keys: the oldest keys beyond this are forgotten.
    """

    def __init__(self, path: Path | None, max_keys: int = 2000) -> None:
        self.path = path
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, float] = OrderedDict(self._read())

    def claim(self, key: str) -> bool:
        """Mark ``key`` sent; True when it was new (send now), False for a duplicate."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = time.time()
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            self._write()
            return True

    def release(self, key: str) -> None:
        """Forget ``key`` (its message could not be sent: a retry may send it)."""
        with self._lock:
            if self._keys.pop(key, None) is not None:
                self._write()

    def _read(self) -> dict[str, float]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sent-keys-")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dict(self._keys), out)
            os.replace(tmp, self.path)
        except OSError:
            return  # memory still holds the key: duplicates in this process are dropped


_default: SentKeys | None = None
_default_lock = threading.Lock()


def default_sent_keys() -> SentKeys:
    """The process's store, in ``$PREFECT_HOME`` (where the server keeps its database)."""
    global _default
    with _default_lock:
        if _default is None:
            from prefect.settings import get_current_settings

            _default = SentKeys(Path(get_current_settings().home) / FILE_NAME)
        return _default
