"""Import, once, the JSON state files that versions before the state store wrote.

Earlier versions kept each concept in a file of the state dir: ``dispatched.jsonl`` (ledger),
``uploads.json`` (identity records), ``retry-queue.json``, ``circuit.json``, ``warm-runs.json``;
and the alert keys in ``$PREFECT_HOME/postflow-sent-alert-keys.json``. On the first start with
the store (:func:`blocks.store.open_store`), each file found is read, its rows are inserted in
the store's scope (rows already there win: importing twice changes nothing), and the file is
renamed ``<name>.imported`` once the transaction is committed: kept, never deleted.

A file that cannot be understood (not JSON, not the shape written then) does not stop the
start: one warning names it, and it is moved aside to ``<name>.corrupt``, its bytes kept.
Lines of ``dispatched.jsonl`` that do not parse (a torn last line after a crash) are skipped,
as the ledger always did.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Table

from blocks.store import tables as t
from core.errors import StateStoreError
from core.logs import run_logger

__all__ = ["LEGACY_FILES", "import_file", "import_state_dir"]

log = run_logger("postflow.state")


class _Unreadable(ValueError):
    """The file is not what the earlier version wrote."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except ValueError as exc:
        raise _Unreadable(f"not valid JSON ({exc})") from None


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unreadable(f"a JSON {type(value).__name__}, not an object")
    return value


def _ledger_rows(path: Path) -> Iterable[dict[str, Any]]:
    dispatched: dict[str, float] = {}
    finished: dict[str, tuple[float, bool]] = {}
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                key, event, at = str(record["key"]), record["event"], float(record.get("at") or 0)
            except (ValueError, KeyError, TypeError):
                continue  # a torn line
            if event == "dispatched":
                dispatched.setdefault(key, at)
                if record.get("retry"):
                    finished.pop(key, None)
            elif event == "finished":
                finished[key] = (at, bool(record.get("ok")))
    for key in dispatched.keys() | finished.keys():
        done = finished.get(key)
        yield {
            "key": t.encode_text(key),
            "dispatched_at": dispatched.get(key, done[0] if done else 0.0),
            "finished_at": done[0] if done else None,
            "ok": done[1] if done else None,
        }


def _upload_rows(path: Path) -> Iterable[dict[str, Any]]:
    for source, entry in _mapping(_json(path)).items():
        if not isinstance(entry, dict):
            continue
        try:
            yield {
                "source": t.encode_text(str(source)),
                "size_bytes": int(entry["size_bytes"]),
                "mtime_ns": int(entry["mtime_ns"]),
                "fingerprint": str(entry.get("fingerprint") or ""),
                "file_id": str(entry["file_id"]),
                "updated_at": 0.0,
            }
        except (KeyError, TypeError, ValueError):
            continue


def _retry_rows(path: Path) -> Iterable[dict[str, Any]]:
    data = _mapping(_json(path))
    for section in ("queued", "gave_up"):
        for record in (data.get(section) or {}).values():
            try:
                gave_up = record.get("gave_up_at")
                yield {
                    "key": t.encode_text(str(record["key"])),
                    "path": t.encode_text(str(record["path"])),
                    "error_kind": str(record.get("error_kind") or "")[:128],
                    "attempts": int(record.get("attempts", 1)),
                    "first_failed_at": float(record["first_failed_at"]),
                    "next_attempt_at": float(record["next_attempt_at"]),
                    "gave_up_at": None if gave_up is None else float(gave_up),
                }
            except (AttributeError, KeyError, TypeError, ValueError):
                continue


def _circuit_rows(path: Path) -> Iterable[dict[str, Any]]:
    data = _mapping(_json(path))
    if data.get("state") not in ("closed", "open", "half_open"):
        raise _Unreadable(f"no breaker state in it ({data.get('state')!r})")

    def number(name: str) -> float | None:
        value = data.get(name)
        return None if value is None else float(value)

    threshold = data.get("failure_threshold")
    yield {
        "state": data["state"],
        "consecutive_failures": int(data.get("consecutive_failures") or 0),
        "failure_threshold": None if threshold is None else int(threshold),
        "opened_at": number("opened_at"),
        "cool_down_seconds": number("cool_down_seconds"),
        "probe_started_at": number("probe_started_at"),
        "last_error": str(data.get("last_error") or "")[:128],
        "updated_at": number("updated_at"),
    }


def _warm_rows(path: Path) -> Iterable[tuple[Table, dict[str, Any]]]:
    host = socket.gethostname()
    for run_id, owner in _mapping(_json(path)).items():
        try:
            pid, started = int(owner["pid"]), owner.get("started_at")
            started = None if started is None else float(started)
        except (KeyError, TypeError, ValueError):
            continue
        runner = t.runner_key(host, pid, started)
        yield (
            t.runners,
            {
                "runner_id": runner,
                "host": host,
                "pid": pid,
                "started_at": started,
                "heartbeat_at": 0.0,  # a lease long expired: the pid decides on this host
                "lease_seconds": 0.0,
            },
        )
        yield t.warm_runs, {"run_id": str(run_id)[:36], "runner_id": runner, "claimed_at": 0.0}


def _sent_key_rows(path: Path) -> Iterable[dict[str, Any]]:
    for key, sent_at in _mapping(_json(path)).items():
        try:
            yield {"key": str(key)[:255], "sent_at": float(sent_at)}
        except (TypeError, ValueError):
            continue


def _single(table: Table, rows: Callable[[Path], Iterable[dict[str, Any]]]) -> Any:
    return lambda path: ((table, row) for row in rows(path))


LEGACY_FILES: Mapping[str, Callable[[Path], Iterable[tuple[Table, dict[str, Any]]]]] = (
    MappingProxyType(
        {
            "dispatched.jsonl": _single(t.ledger, _ledger_rows),
            "uploads.json": _single(t.uploads, _upload_rows),
            "retry-queue.json": _single(t.retry_queue, _retry_rows),
            "circuit.json": _single(t.circuit, _circuit_rows),
            "warm-runs.json": _warm_rows,
        }
    )
)
"""The state dir's files by name, each with the reader of its rows."""

SENT_KEYS_FILE = "postflow-sent-alert-keys.json"
_READERS = MappingProxyType({**LEGACY_FILES, SENT_KEYS_FILE: _single(t.alert_keys, _sent_key_rows)})


def import_file(store: Any, path: Path) -> int:
    """Import one earlier version's state file into ``store``, then rename it ``.imported``.

    Args:
        store: the :class:`blocks.store.StateStore` whose scope the rows get.
        path: a file named as in :data:`LEGACY_FILES`, or ``postflow-sent-alert-keys.json``.

    Returns:
        The rows read (0 when the file is missing or was set aside as corrupt).

    Raises:
        StateStoreError: the store cannot be written (the file is left for the next start).
    """
    reader = _READERS[path.name]
    if not path.is_file():
        return 0
    with store.write() as db:  # the write lock first: two processes import a file once
        if not path.is_file():
            return 0
        try:
            rows = list(reader(path))
        except OSError as exc:
            _set_aside(path, str(exc))
            return 0
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # the readers only parse: any of these means a shape the earlier version never
            # wrote (a field of the wrong type, a list for an object), not a bug of ours
            _set_aside(path, str(exc) if isinstance(exc, _Unreadable) else f"wrong shape: {exc!r}")
            return 0
        _insert(store, db, rows)
    try:
        os.replace(path, path.with_name(path.name + ".imported"))
    except OSError as exc:
        raise StateStoreError(f"imported {path} but cannot rename it: {exc}") from exc
    log.info("Imported %d records of %s into the state store", len(rows), path)
    return len(rows)


def _insert(store: Any, db: Connection, rows: list[tuple[Table, dict[str, Any]]]) -> None:
    for table, row in rows:
        db.execute(store.insert_missing(table, row))


def _set_aside(path: Path, reason: str) -> None:
    aside = path.with_name(path.name + ".corrupt")
    log.warning("State file %s not imported (%s); kept as %s", path, reason, aside)
    with contextlib.suppress(OSError):  # else left where it is; the next start says so again
        os.replace(path, aside)


def import_state_dir(store: Any, state_dir: Path) -> int:
    """Import every earlier version's state file found in ``state_dir`` (see the module doc).

    Returns:
        The rows read, over all files.

    Raises:
        StateStoreError: the store cannot be written.
    """
    return sum(import_file(store, Path(state_dir) / name) for name in LEGACY_FILES)
