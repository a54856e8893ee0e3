"""The sandbox's SQLite connection: one connection, one lock, explicit transactions.

Metadata lives in `<data_dir>/sandbox.sqlite3` (stdlib `sqlite3`); uploaded bytes live beside it in
`<data_dir>/blobs/`. Every statement runs under a re-entrant lock, so the uvicorn event loop and
test threads calling the Python API can share the connection safely.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Database", "from_iso", "to_iso", "utc_now"]

DB_FILENAME = "sandbox.sqlite3"


def utc_now() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_iso(moment: datetime | None) -> str | None:
    """Serialise an aware datetime for storage (ISO 8601 with offset), passing None through."""
    return None if moment is None else moment.isoformat()


def from_iso(text: str | None) -> datetime | None:
    """Parse a stored ISO 8601 timestamp, passing None through."""
    return None if text is None else datetime.fromisoformat(text)


class Database:
    """A thread-safe wrapper around one `sqlite3.Connection`.

    Args:
        data_dir: Directory holding the database file; created if missing.

    Raises:
        sqlite3.Error: If the database file cannot be opened.
    """

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILENAME
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement under the lock (autocommit unless inside `transaction()`)."""
        with self.lock:
            return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a SELECT and return all rows."""
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a SELECT and return the first row, or None."""
        with self.lock:
            return self._conn.execute(sql, params).fetchone()

    def executescript(self, script: str) -> None:
        """Run a multi-statement script (schema creation)."""
        with self.lock:
            self._conn.executescript(script)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and wrap the block in BEGIN IMMEDIATE/COMMIT (ROLLBACK on error).

        Nested use joins the outer transaction.
        """
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the connection; further calls raise `sqlite3.ProgrammingError`."""
        with self.lock:
            self._conn.close()
