"""The state store's tables: one per concept, each row scoped to its installation (and production).

Every table but ``meta`` starts with ``installation`` (``settings.installation``); the ones whose
state was per production before (each production had its own state dir) add ``production``
(``settings.production``, "" for a single-root installation). Two installations, or two
productions, sharing one database never read or write each other's rows: every statement of
:class:`blocks.store.StateStore` filters on them.

Times are Unix seconds (``Double``), sizes bytes, ``mtime_ns`` nanoseconds. Paths and run keys
are stored through :func:`encode_text` (a file name that is not UTF-8 cannot be sent to
PostgreSQL or SQLite as it is).

The tables are created in ``settings.state_schema`` on PostgreSQL (``schema_translate_map``),
and in the SQLite file's main schema otherwise.
"""

from __future__ import annotations

import json

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "SCHEMA_VERSION",
    "alert_keys",
    "alert_states",
    "circuit",
    "decode_text",
    "deliveries",
    "encode_text",
    "ledger",
    "metadata",
    "manifest_writers",
    "meta",
    "retry_queue",
    "review_deliveries",
    "review_effects",
    "review_files",
    "run_create_retries",
    "runner_key",
    "runners",
    "upload_checkpoint_parts",
    "upload_checkpoints",
    "uploads",
    "warm_runs",
]

SCHEMA_VERSION = 1
"""Incremented when a table changes shape; a store written by a newer version is refused.

A new table is not a change of shape: ``metadata.create_all`` adds it to an existing store
(``deliveries`` and ``manifest_writers`` came this way), and a version that does not know it
leaves it alone, so machines of two versions can share one store while they are upgraded."""

metadata = MetaData()


def _installation() -> Column[str]:
    return Column("installation", String(40), primary_key=True)


def _production() -> Column[str]:
    return Column("production", String(64), primary_key=True)


meta = Table(
    "meta",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    _installation(),
    _production(),
    Column("key", Text, primary_key=True),  # "<relative path>:<size>:<mtime_ns>"
    Column("dispatched_at", Double, nullable=False),
    Column("finished_at", Double),  # NULL: dispatched, never finished
    Column("ok", Boolean),
)

uploads = Table(
    "uploads",
    metadata,
    _installation(),
    _production(),
    Column("source", Text, primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # XXH3-128 hex, "" unknown
    Column("file_id", String(64), nullable=False),
    Column("updated_at", Double, nullable=False),
)

upload_checkpoints = Table(
    "upload_checkpoints",
    metadata,
    _installation(),
    _production(),
    Column("source", Text, primary_key=True),  # as in ``uploads``: relative to the watch folder
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("file_id", String(64), nullable=False),
    Column("folder_id", String(64), nullable=False),
    Column("media_type", String(255), nullable=False),
    # [[size, url], ...] in part order. The URLs are pre-signed credentials: never logged.
    Column("parts", Text, nullable=False),
    Column("expires_at", Double),  # earliest URL expiry (Unix s); NULL when the URLs say none
    Column("created_at", Double, nullable=False),
)

upload_checkpoint_parts = Table(
    "upload_checkpoint_parts",
    metadata,
    _installation(),
    Column("file_id", String(64), primary_key=True),
    Column("part", Integer, primary_key=True),  # 1-based part number
    Column("digest", String(32), nullable=False),  # XXH3-128 hex of the part's bytes
    Column("done_at", Double, nullable=False),
)

retry_queue = Table(
    "retry_queue",
    metadata,
    _installation(),
    _production(),
    Column("key", Text, primary_key=True),
    Column("path", Text, nullable=False),
    Column("error_kind", String(128), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", Double, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("gave_up_at", Double),  # NULL while queued
)

circuit = Table(
    "circuit",
    metadata,
    _installation(),
    _production(),
    Column("state", String(16), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("failure_threshold", Integer),
    Column("opened_at", Double),
    Column("cool_down_seconds", Double),
    Column("probe_started_at", Double),
    Column("last_error", String(128), nullable=False),
    Column("updated_at", Double),
)

run_create_retries = Table(
    "run_create_retries",
    metadata,
    _installation(),
    _production(),
    Column("key", Text, primary_key=True),  # the ledger key
    Column("path", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("due_at", Double, nullable=False),
)

runners = Table(
    "runners",
    metadata,
    _installation(),
    Column("runner_id", String(64), primary_key=True),  # "<host>:<pid>:<start time>"
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double),  # the process's start time; NULL unknown
    Column("heartbeat_at", Double, nullable=False),
    Column("lease_seconds", Double, nullable=False),
)

warm_runs = Table(
    "warm_runs",
    metadata,
    _installation(),
    Column("run_id", String(36), primary_key=True),
    Column("runner_id", String(64), nullable=False),
    Column("claimed_at", Double, nullable=False),
)

alert_keys = Table(
    "alert_keys",
    metadata,
    _installation(),
    Column("key", String(255), primary_key=True),
    Column("sent_at", Double, nullable=False),
)

alert_states = Table(
    "alert_states",
    metadata,
    _installation(),
    _production(),
    Column("alert", String(64), primary_key=True),
    Column("alert_id", String(128)),  # set while fired
    Column("fired_at", Double),
    Column("suppressed", Boolean, nullable=False),
)


deliveries = Table(
    "deliveries",
    metadata,
    _installation(),
    _production(),
    Column("file_id", String(64), primary_key=True),  # the Frame.io file: one delivery each
    Column("rel_path", Text, nullable=False),  # POSIX, relative to the watch folder
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("xxh128", String(32), nullable=False),  # XXH3-128, lowercase hex (ASC MHL xxh128)
    Column("view_url", Text, nullable=False),
    Column("delivered_at", Double, nullable=False),
    Column("generation", Integer),  # the MHL generation holding it; NULL: not written yet
)

manifest_writers = Table(
    "manifest_writers",
    metadata,
    _installation(),
    _production(),
    Column("holder", String(255)),  # "<host>:<pid>" writing the history now; NULL: free
    Column("lease_until", Double, nullable=False),  # the holder's claim ends then
    Column("last_generation", Integer),  # NULL: no generation written yet
    Column("last_generation_file", Text),  # its path, as written
    Column("written_at", Double),
)

# The review loop (tasks/review/): Frame.io's answers to what was uploaded, back in Discord.
review_files = Table(
    "review_files",
    metadata,
    _installation(),
    Column("file_id", String(64), primary_key=True),  # the Frame.io file
    Column("block", String(255)),  # the Discord block its message went through; NULL: none yet
    Column("message_id", String(32)),  # Discord message id; NULL: not posted (yet)
    Column("embed", Text),  # the message's embed as JSON, to edit it
    Column("label", Text, nullable=False),  # "SC01 / 00412 V002", for replies
    Column("language", String(8), nullable=False),
    Column("posted_at", Double),
    Column("ready_at", Double),  # file.ready (or the poll's "transcoded") seen
    Column("playable_at", Double),  # the message was edited to "playable"
    Column("status", String(64), nullable=False),  # the last review Status announced ("")
    Column("comments_after", String(40), nullable=False),  # poll cursor: ISO time ("" none)
    Column("polled_at", Double),
)

review_deliveries = Table(
    "review_deliveries",
    metadata,
    _installation(),
    Column("key", String(255), primary_key=True),  # blocks.webhook_signature.Delivery.key
    Column("received_at", Double, nullable=False),
)

review_effects = Table(
    "review_effects",
    metadata,
    _installation(),
    Column("key", String(255), primary_key=True),  # "comment.created:<comment id>", ...
    Column("done_at", Double, nullable=False),
)


def encode_text(value: str) -> str:
    """``value`` as it is stored: itself when it is valid Unicode; a JSON string literal
    (``"..."`` with ``\\udcXX`` escapes) when it holds lone surrogates, which
    ``os.fsdecode`` makes of file-name bytes that are not UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return value


def decode_text(stored: str) -> str:
    """The inverse of :func:`encode_text`."""
    if len(stored) >= 2 and stored[0] == stored[-1] == '"' and "\\ud" in stored:
        try:
            value = json.loads(stored)
        except ValueError:
            return stored
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return value
    return stored


def runner_key(host: str, pid: int, started_at: float | None) -> str:
    """The ``runners.runner_id`` of a process: ``"<host>:<pid>:<start time, ms>"`` (a pid
    reused by a later process gets another id)."""
    started = "?" if started_at is None else str(round(started_at * 1000))
    return f"{host[:40]}:{pid}:{started}"
