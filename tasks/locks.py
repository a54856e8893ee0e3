"""Locks that hold across threads, or across workers: Prefect lock managers.

One process: Prefect's ``MemoryLockManager`` (a per-process singleton). Several workers:
prefect-redis's ``RedisLockManager`` at ``redis_url``. The structure cache uses the same manager
for its SERIALIZABLE isolation (:mod:`tasks.structure`), and uploads use :func:`held` to make
"look, then create" steps (the file placeholder, the shot's version stack) happen once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from prefect.locking.memory import MemoryLockManager

from config.settings import PostflowSettings
from postflow.errors import ConfigurationError

HOLD_TIMEOUT_SECONDS = 6 * 3600.0  # a crashed holder's lock expires after this


def lock_manager_for(settings: PostflowSettings) -> Any:
    """The configured Prefect lock manager.

    Raises:
        ConfigurationError: ``lock_manager="redis"`` without prefect-redis installed.
    """
    if settings.lock_manager != "redis":
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
