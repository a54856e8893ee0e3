"""Small JSON files in the state directory, replaced atomically (they survive ``kill -9``).

What decides what is sent, retried or announced lives in the state store (:mod:`blocks.store`);
these files are the local folder-listing records (:mod:`tasks.structure.listings`).

A writer serialises to ``<name>.<pid>.<random>.tmp`` in the same directory, fsyncs it,
``os.replace`` s it over the real name and fsyncs the directory: a reader (another process,
``postflow status``) sees the old file or the new one, never half of one. JSON is written with
``ensure_ascii=True``, so keys made from file names that are not UTF-8 (lone surrogates from
``os.fsdecode``) round-trip as ``\\udcXX`` escapes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from core.logs import run_logger

log = run_logger("postflow.state")


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically and durably.

    Args:
        path: the state file; its parent directory is created when missing.
        data: anything ``json.dumps`` accepts.

    Raises:
        OSError: the directory cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, indent=1) + "\n"
    try:
        with tmp.open("w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def read_json(path: Path) -> Any | None:
    """Return the JSON value in ``path``, or None when it is missing or not valid JSON.

    A file that does not parse (edited by hand, or a disk error) is moved aside to
    ``<name>.corrupt`` with a warning, so the next write starts clean and the bytes are kept.

    Raises:
        OSError: the file exists but cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        aside = path.with_name(path.name + ".corrupt")
        log.warning("State file %s is not valid JSON; moved aside to %s", path, aside)
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        return None


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform/file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
