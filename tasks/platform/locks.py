"""Locks that hold across threads, processes or workers: Prefect lock managers.

* ``lock_manager="file"`` (default): :class:`FileLockManager`, ``flock`` files in
  ``<state_dir>/locks``. One machine, any number of processes and threads: ``postflow up``
  runs its ingests in threads of its warm runner while ``postflow ingest``, a second ``up`` or
  a process worker may run others at once, so an in-process lock would let two ingests of a
  new shot each create its folder. Prefect's own ``FileSystemLockManager`` fails under
  threads on 3.8.8: ``_get_lock_info`` can read a lock file another thread has created but
  not yet written (``EOF while parsing``; https://github.com/PrefectHQ/prefect/blob/3.8.8/src/prefect/locking/filesystem.py).
* ``lock_manager="memory"``: Prefect's ``MemoryLockManager``, one process only.
* ``lock_manager="redis"``: prefect-redis's ``RedisLockManager`` at ``redis_url``, several
  machines.

The structure cache uses the manager for its SERIALIZABLE isolation
(:mod:`tasks.structure.folders`),
and uploads use :func:`held` to make "look, then create" steps (the file placeholder, the
shot's version stack) happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from prefect.locking.memory import MemoryLockManager

from config.settings import PostflowSettings
from core.errors import ConfigurationError
from core.runtime import current_runtime

HOLD_TIMEOUT_SECONDS = 6 * 3600.0  # a crashed holder's lock expires after this
_POLL_SECONDS = 0.02


# What this process holds, shared by every FileLockManager on the same directory (Prefect may
# copy the manager along with a cache policy): the runtime registry "file-locks",
# (directory, key) -> (holder, open fd), guarded by the runtime's lock of the same name.
def _held_guard() -> threading.Lock:
    return current_runtime().lock("file-locks")


def _held() -> dict[tuple[str, str], tuple[str, int]]:
    return current_runtime().registry("file-locks")


class FileLockManager:
    """A Prefect ``LockManager`` (``prefect.locking.protocol``) built on ``flock(2)``.

    Each key is a file ``<directory>/<sha1(key)>.lock`` locked exclusively. ``flock`` locks
    belong to an open file, so two threads of one process exclude each other as two processes
    do, and the kernel drops the lock when its holder dies: a crashed ingest never leaves a
    stale lock, so ``hold_timeout`` is not needed and is ignored. Local file systems only
    (not NFS/SMB); for several machines use Redis.

    Args:
        directory: where the lock files live (created if missing).
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = str(Path(directory).resolve())
        os.makedirs(self.directory, exist_ok=True)

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, hashlib.sha1(key.encode()).hexdigest() + ".lock")

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take lock ``key`` for ``holder``, waiting up to ``acquire_timeout`` seconds (None:
        forever, 0: not at all). Returns False on timeout."""
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(_POLL_SECONDS)
        with _held_guard():
            _held()[(self.directory, key)] = (holder, fd)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Async :meth:`acquire_lock` (waits in a worker thread)."""
        return await asyncio.to_thread(self.acquire_lock, key, holder, acquire_timeout)

    def release_lock(self, key: str, holder: str) -> None:
        """Release lock ``key``.

        Raises:
            ValueError: ``holder`` does not hold it (as Prefect's MemoryLockManager).
        """
        with _held_guard():
            current = _held().get((self.directory, key))
            if current is None or current[0] != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            del _held()[(self.directory, key)]
        fcntl.flock(current[1], fcntl.LOCK_UN)
        os.close(current[1])

    def is_locked(self, key: str) -> bool:
        """True when some thread or process holds ``key``."""
        with _held_guard():
            if (self.directory, key) in _held():
                return True
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's lock
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """True when ``holder`` (in this process) holds ``key``."""
        with _held_guard():
            current = _held().get((self.directory, key))
        return current is not None and current[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key`` is free; False when ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Async :meth:`wait_for_lock`."""
        return await asyncio.to_thread(self.wait_for_lock, key, timeout)


def lock_manager_for(settings: PostflowSettings) -> Any:
    """The configured Prefect lock manager.

    Raises:
        ConfigurationError: ``lock_manager="redis"`` without prefect-redis installed.
    """
    if settings.lock_manager == "file":
        return FileLockManager(settings.state_dir / "locks")
    if settings.lock_manager == "memory":
        return MemoryLockManager()
    try:
        from prefect_redis.locking import RedisLockManager
    except ImportError as exc:
        raise ConfigurationError("lock_manager=redis needs `pip install prefect-redis`") from exc
    return RedisLockManager(connection_url=settings.redis_url)


@contextlib.contextmanager
def held(
    manager: Any, key: str, hold_timeout_seconds: float = HOLD_TIMEOUT_SECONDS
) -> Iterator[None]:
    """Hold lock ``key`` of a Prefect lock manager for the block (waits while another holds it)."""
    holder = uuid.uuid4().hex
    manager.acquire_lock(key, holder, acquire_timeout=None, hold_timeout=hold_timeout_seconds)
    try:
        yield
    finally:
        if manager.is_lock_holder(key, holder):  # not if it expired meanwhile
            manager.release_lock(key, holder)


LockFactory = Callable[[str], AbstractContextManager[None]]
"""``lock(key)`` -> a context manager holding the lock named ``key``."""


def local_lock(key: str) -> AbstractContextManager[None]:
    """The process's own lock named ``key`` (threads of one process agree; no other process)."""
    return current_runtime().lock(key)  # type: ignore[return-value]


def folder_lock(settings: PostflowSettings) -> LockFactory:
    """``lock(key)`` context managers on the configured lock manager (:mod:`tasks.platform.locks`).

    Args:
        settings: ``lock_manager`` (and its directory or Redis URL) are read.

    Returns:
        A factory; every thread, process or worker uploading into a shot folder agrees on it.

    Raises:
        ConfigurationError: a Redis lock manager is asked for but prefect-redis is missing.
    """
    manager = lock_manager_for(settings)
    return lambda key: held(manager, key)
