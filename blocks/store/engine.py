"""SQLAlchemy engines of the state store: a SQLite file by default, PostgreSQL when named.

* **SQLite** (``<state_dir>/state.db``, one machine): WAL journal, so readers never wait for
  the writer; a busy timeout of :data:`BUSY_TIMEOUT_SECONDS`; ``synchronous=FULL``, so a
  committed change survives a power cut as the fsynced JSON files did. Every write
  transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two
  processes that read then write never deadlock into ``SQLITE_BUSY`` half-way. That is
  SQLAlchemy's documented recipe for pysqlite ("Serializable isolation / Savepoints /
  Transactional DDL": ``isolation_level = None`` on connect, emit ``BEGIN`` in the ``begin``
  event). A connection opened with the execution option :data:`READ_ONLY` begins a plain
  (deferred) ``BEGIN`` instead.
* **PostgreSQL** (``POSTFLOW_STATE_URL``, several machines), through psycopg 3
  (``postgresql+psycopg``; a plain ``postgresql://`` URL is taken to mean it). The tables
  live in ``POSTFLOW_STATE_SCHEMA`` (created when missing) through SQLAlchemy's
  ``schema_translate_map``, so the Prefect server's database can hold them beside its own.
  Rows that a read-modify-write touches are locked with ``SELECT ... FOR UPDATE``.

One engine per database per process (a forked child makes its own). Creating the tables is
serialised (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on PostgreSQL), so
several processes starting at once create them once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from blocks.store.tables import SCHEMA_VERSION, meta, metadata
from core.errors import StateStoreError
from core.runtime import Runtime, current_runtime

__all__ = ["BUSY_TIMEOUT_SECONDS", "READ_ONLY", "engine_for", "redacted", "sqlite_url"]

BUSY_TIMEOUT_SECONDS = 30.0
READ_ONLY = "postflow_read_only"
MAX_IDLE_ENGINES = 8
"""Engines of one process kept with their connections open; older ones are disposed."""
_DDL_LOCK_KEY = 0x706F7374666C6F77  # "postflow": pg_advisory_xact_lock while creating tables


def sqlite_url(state_dir: Path) -> URL:
    """The URL of the default store, ``<state_dir>/state.db`` (the directory is created)."""
    state_dir = Path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateStoreError(f"state dir {state_dir}: {exc}") from exc
    return URL.create("sqlite", database=str(state_dir.absolute() / "state.db"))


def redacted(url: URL | str) -> str:
    """``url`` as it may be logged: the password replaced by ``***``."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def _normalised(url: URL | str) -> URL:
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise StateStoreError(
            "POSTFLOW_STATE_URL is not a database URL; give postgresql://user:password@host/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("postgresql+psycopg", "sqlite"):
        return parsed
    raise StateStoreError(
        f"state store {redacted(parsed)}: only postgresql:// (psycopg 3) or sqlite:/// URLs are "
        "supported; change POSTFLOW_STATE_URL"
    )


def engine_for(url: URL | str, schema: str = "postflow") -> Engine:
    """The process's engine of the store at ``url``, its tables created on first use.

    Args:
        url: ``sqlite:///<path>`` or ``postgresql[+psycopg]://...``.
        schema: the PostgreSQL schema holding the tables (ignored for SQLite).

    Raises:
        StateStoreError: an unsupported URL, the database cannot be reached, or it holds a
            store written by a newer version (the message shows the URL without password).
    """
    parsed = _normalised(url)
    key = (os.getpid(), parsed.render_as_string(hide_password=False), schema)
    runtime = current_runtime()
    engines = runtime.state("store-engines", lambda: _open_engines(runtime))
    with runtime.lock("store-engines"):
        engine = engines.pop(key, None)
        if engine is not None and _sqlite_file_gone(parsed):
            # The state dir was removed under a running process: a new connection would open
            # an empty file without tables. Start over as on a first run (tables created).
            engine.dispose()
            engine = None
        if engine is None:
            engine = _create(parsed, schema)
        engines[key] = engine  # the most recently used last
        while len(engines) > MAX_IDLE_ENGINES:
            # Close the pooled connections of the least recently used (many state dirs in
            # one process: tests); an engine still in use opens new ones when it needs them.
            engines.pop(next(iter(engines))).dispose()
        return engine


def _open_engines(runtime: Runtime) -> dict[tuple[int, str, str], Engine]:
    """The runtime's engines by (pid, URL, schema); their pooled connections are closed with
    the runtime."""
    engines: dict[tuple[int, str, str], Engine] = {}

    def dispose() -> None:
        for engine in list(engines.values()):
            engine.dispose()

    runtime.on_close(dispose)
    return engines


def _sqlite_file_gone(url: URL) -> bool:
    """A SQLite store's file no longer exists (False for PostgreSQL and in-memory SQLite)."""
    database = url.database or ""
    return (
        url.drivername == "sqlite"
        and database not in ("", ":memory:")
        and not (os.path.exists(database))
    )


def _create(url: URL, schema: str) -> Engine:
    if url.drivername == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=8,
            hide_parameters=True,
            execution_options={"schema_translate_map": {None: schema}},
        )
    try:
        _create_tables(engine, schema)
    except SQLAlchemyError as exc:
        engine.dispose()
        where = "POSTFLOW_STATE_URL" if url.drivername != "sqlite" else "POSTFLOW_STATE_DIR"
        raise StateStoreError(
            f"state store {redacted(url)}: {_reason(exc)}; check {where} and that the database "
            "can be reached and written"
        ) from None
    except StateStoreError:
        engine.dispose()
        raise
    return engine


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's message, without SQLAlchemy's statement and background link."""
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).strip().splitlines()[0]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _create_tables(engine: Engine, schema: str) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        metadata.create_all(connection)
        found = connection.execute(
            select(meta.c.value).where(meta.c.name == "schema_version")
        ).scalar()
        if found is None:
            connection.execute(
                meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION))
            )
        elif int(found) > SCHEMA_VERSION:
            raise StateStoreError(
                f"the state store holds schema version {found}, written by a newer postflow "
                f"(this one knows {SCHEMA_VERSION}); upgrade postflow on this machine"
            )
