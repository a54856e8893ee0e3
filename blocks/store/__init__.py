"""One state store for every machine: what decides what is sent, retried or announced.

The dispatch ledger, identity records, retry queue, circuit breaker, run-create retries, warm
runs and alert keys live in one database behind :class:`StateStore` (tables:
:mod:`blocks.store.tables`). By default it is a SQLite file, ``<state_dir>/state.db``
(embedded, one machine, nothing to start); when ``POSTFLOW_STATE_URL`` names a PostgreSQL
database, every machine of the installation shares it (:mod:`blocks.store.engine`).
Transactions replace the flock'd JSON files of earlier versions: a read-modify-write runs in
:meth:`StateStore.write` and locks the rows it reads with :meth:`StateStore.locked`
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the
database's write lock).

A store is an engine plus a *scope*: the installation's name and the production's
(``settings.installation``, ``settings.production``). :meth:`StateStore.where` and
:meth:`StateStore.row` put the scope in every statement, so two installations or productions
sharing a database never see each other's rows.

:func:`open_store` also imports, once, the JSON state files an earlier version wrote in the
state dir (:mod:`blocks.store.legacy`).

Example::

    store = open_store(settings)
    with store.write() as db:
        db.execute(store.insert_missing(tables.ledger, {"key": key, "dispatched_at": now}))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, and_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from blocks.store import tables
from blocks.store.engine import READ_ONLY, engine_for, redacted, sqlite_url
from config.settings import PostflowSettings
from core.errors import StateStoreError
from core.runtime import current_runtime

__all__ = ["StateStore", "local_store", "open_store", "redacted", "tables"]


@dataclass(frozen=True)
class StateStore:
    """The state store of one installation (and production).

    Attributes:
        engine: the SQLAlchemy engine (:func:`blocks.store.engine.engine_for`).
        installation: ``settings.installation``; every row carries it.
        production: ``settings.production`` ("" for a single-root installation); the rows of
            the tables that have a ``production`` column carry it.
    """

    engine: Engine
    installation: str = "postflow"
    production: str = ""

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without raising.

        On SQLite it starts with ``BEGIN IMMEDIATE`` (the write lock, waited for up to
        :data:`blocks.store.engine.BUSY_TIMEOUT_SECONDS`).

        Raises:
            StateStoreError: the database cannot be reached, read or written.
        """
        with self._mapped(), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite a deferred ``BEGIN``: it never waits for a writer).

        Raises:
            StateStoreError: the database cannot be reached or read.
        """
        with self._mapped(), self.engine.connect() as connection:
            connection = connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            original = getattr(exc, "orig", None) or exc
            reason = str(original).strip().splitlines()[0] if str(original).strip() else ""
            where = redacted(self.engine.url)
            raise StateStoreError(f"state store {where}: {reason or type(exc).__name__}") from exc

    def where(self, table: Table) -> ColumnElement[bool]:
        """The condition that keeps a statement on ``table`` to this store's scope."""
        condition = table.c.installation == self.installation
        if "production" in table.c:
            condition = and_(condition, table.c.production == self.production)
        return condition

    def row(self, table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with this store's scope columns added (for an insert into ``table``)."""
        scoped = dict(values)
        if "installation" in table.c:
            scoped["installation"] = self.installation
        if "production" in table.c:
            scoped["production"] = self.production
        return scoped

    def locked(self, statement: Select[Any]) -> Select[Any]:
        """``statement`` as ``SELECT ... FOR UPDATE`` (PostgreSQL; SQLite ignores it, its
        write transaction already holds the lock)."""
        return statement.with_for_update()

    def insert_missing(self, table: Table, values: Mapping[str, Any]) -> Any:
        """``INSERT`` of one scoped row that does nothing when its key exists."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return insert(table).values(self.row(table, values)).on_conflict_do_nothing()

    def upsert(self, table: Table, values: Mapping[str, Any]) -> Any:
        """``INSERT`` of one scoped row, or ``UPDATE`` of its other columns when a row with
        its primary key (``values``' key columns plus the scope) exists."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = insert(table).values(self.row(table, values))
        index = [c.name for c in table.primary_key.columns]
        update = {k: statement.excluded[k] for k in values if k not in index}
        if not update:
            return statement.on_conflict_do_nothing(index_elements=index)
        return statement.on_conflict_do_update(index_elements=index, set_=update)


def local_store(
    state_dir: Path, installation: str = "postflow", production: str = ""
) -> StateStore:
    """The SQLite store ``<state_dir>/state.db`` (tests, and the default of :func:`open_store`).

    Raises:
        StateStoreError: the state dir or the file cannot be created.
    """
    return StateStore(engine_for(sqlite_url(state_dir)), installation, production)


def open_store(settings: PostflowSettings, *, import_legacy: bool = True) -> StateStore:
    """The state store ``settings`` name, scoped to their installation and production.

    ``POSTFLOW_STATE_URL`` when set (tables in ``POSTFLOW_STATE_SCHEMA`` on PostgreSQL), else
    ``<state_dir>/state.db``. The first call of a process for a state dir imports the JSON
    state files an earlier version left there (:func:`blocks.store.legacy.import_state_dir`).

    Raises:
        StateStoreError: the store cannot be opened (the message never shows a password).
    """
    if settings.state_url is not None and settings.state_url.get_secret_value():
        engine = engine_for(settings.state_url.get_secret_value(), settings.state_schema)
    else:
        engine = engine_for(sqlite_url(settings.state_dir))
    store = StateStore(engine, settings.installation, settings.production)
    if import_legacy:
        state_dir = str(Path(settings.state_dir).absolute())
        marker = (str(engine.url), state_dir, store.installation, store.production)
        runtime = current_runtime()
        with runtime.lock("legacy-state-import"):
            if marker not in runtime.registry("legacy-state-imported"):
                from blocks.store.legacy import import_state_dir

                import_state_dir(store, Path(state_dir))
                runtime.registry("legacy-state-imported")[marker] = True
    return store
