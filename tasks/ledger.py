"""The sensor's dispatch ledger: each ready file version is handed to ingest exactly once.

An append-only JSON-lines file in the state directory. Each file version has a run key
``"<relative path>:<size>:<mtime_ns>"`` (the Dagster-sensor pattern). Two records exist:

* ``{"key", "event": "dispatched", "at"}`` - written (and fsynced) *before* the ingest starts;
* ``{"key", "event": "finished", "ok": bool, "at"}`` - written when the ingest returns.

On restart, a key that is finished is never sent again; a key that was dispatched but never
finished (the process died mid-ingest) is sent once more. That cannot duplicate a file,
because ingest itself is idempotent (same name and size in the shot folder is skipped), and
it cannot lose one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


class DispatchLedger:
    """Thread-safe record of dispatched and finished file versions.

    Args:
        path: the JSON-lines file; created with its parent directory when missing.

    Raises:
        OSError: the state directory cannot be created or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._dispatched: set[str] = set()
        self._finished: dict[str, bool] = {}
        self._interrupted: list[str] = []
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                    key, event = record["key"], record["event"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: ignore it
                if event == "dispatched":
                    self._dispatched.add(key)
                    if record.get("retry"):  # a retry reopens a finished key
                        self._finished.pop(key, None)
                elif event == "finished":
                    self._finished[key] = bool(record.get("ok"))
        # Dispatched by an earlier process but never finished: eligible again.
        self._interrupted = sorted(self._dispatched - set(self._finished))
        self._dispatched.clear()

    def _append(self, record: dict[str, object]) -> None:
        # ASCII escapes: a key from a file name that is not UTF-8 (lone surrogates from
        # os.fsdecode) is written as \udcXX and read back as the same key.
        line = json.dumps(record, ensure_ascii=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def should_dispatch(self, key: str) -> bool:
        """True when ``key`` has never finished and is not currently dispatched in this process."""
        with self._lock:
            return key not in self._finished and key not in self._dispatched

    def interrupted(self) -> list[str]:
        """Keys an earlier process dispatched but never finished; they may be sent again."""
        return list(self._interrupted)

    def mark_dispatched(self, key: str) -> bool:
        """Record a dispatch; returns False (and records nothing) if it was already recorded
        in this process or has finished."""
        with self._lock:
            if key in self._finished or key in self._dispatched:
                return False
            self._dispatched.add(key)
            self._append({"key": key, "event": "dispatched", "at": time.time()})
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
            self._append({"key": key, "event": "dispatched", "retry": True, "at": time.time()})
            return True

    def mark_finished(self, key: str, ok: bool) -> None:
        """Record the outcome of an ingest; the key is never dispatched again."""
        with self._lock:
            self._finished[key] = ok
            self._append({"key": key, "event": "finished", "ok": ok, "at": time.time()})

    def counts(self) -> dict[str, int]:
        """Return ``{"dispatched", "finished", "failed"}`` counts (for status output)."""
        with self._lock:
            failed = sum(1 for ok in self._finished.values() if not ok)
            return {
                "dispatched": len(self._dispatched),
                "finished": len(self._finished),
                "failed": failed,
            }
