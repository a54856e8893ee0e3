"""The per-process state of the pipeline, in one object instead of module globals.

A process that ingests keeps a few things between files because they are slow to make: the
Frame.io SDK client with its IMS token, the Range server and tunnel of remote uploads, the
parsed nomenclature rules, and in-process locks; and a few it shares between threads: the API
pacer, call observers, cancel requests, progress callbacks, warnings already logged. They all
live in one :class:`Runtime` (caches with an injectable clock for their TTLs, and named
:meth:`Runtime.state` objects). It sits in ``core`` so ``blocks`` reach it as well as ``tasks``.
:func:`current_runtime` is the process's runtime (made on first use, closed at exit); tests
build a fresh one and install it with :func:`use_runtime`, so no test touches a module's
private attribute. Which runtime is current is the only module-level state of the product.

Example:
    >>> fake_now = [0.0]
    >>> with use_runtime(Runtime(clock=lambda: fake_now[0])) as runtime:
    ...     first = runtime.cached("rules", "path", object, ttl_seconds=60)
    ...     fake_now[0] = 61.0
    ...     runtime.cached("rules", "path", object, ttl_seconds=60) is first
    False
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

__all__ = ["Runtime", "current_runtime", "use_runtime"]

T = TypeVar("T")


class Runtime:
    """Caches with TTLs, named in-process locks and resources to close, for one process.

    Args:
        clock: seconds on a monotonic clock; TTLs are measured with it (tests inject a fake).

    Thread-safe: ingests run on several threads of one process.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._guard = threading.RLock()
        # kind -> key -> (value, clock() when made)
        self._caches: dict[str, dict[Hashable, tuple[Any, float]]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._states: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []

    def cached(
        self,
        kind: str,
        key: Hashable,
        make: Callable[[], T],
        ttl_seconds: float = 0,
        max_entries: int = 64,
    ) -> T:
        """The value cached under ``(kind, key)``, made by ``make()`` when missing or older
        than ``ttl_seconds`` (0 keeps it for the runtime's life).

        Args:
            kind: a cache name (``"project"``, ``"nomenclature"``...), for :meth:`forget`.
            key: what the value depends on.
            make: builds the value, under a lock of this key only (concurrent callers make it
                once; other runtime state stays readable meanwhile).
            ttl_seconds: lifetime in seconds on :attr:`clock`; 0 means no expiry.
            max_entries: the oldest entry of this kind is dropped beyond this many.

        Raises:
            Whatever ``make`` raises (nothing is cached then).
        """
        with self._guard:
            fresh = self._fresh(kind, key, ttl_seconds)
            if fresh is not None:
                return fresh[0]  # type: ignore[no-any-return]
            building = self._locks.setdefault(("cache", kind, key), threading.Lock())
        # Built under this key's own lock, not the runtime's: a slow make() (a tunnel starting,
        # up to a minute) must not stall every thread that reads other runtime state.
        with building:
            with self._guard:
                fresh = self._fresh(kind, key, ttl_seconds)
                if fresh is not None:
                    return fresh[0]  # type: ignore[no-any-return]
            value = make()
            with self._guard:
                entries = self._caches.setdefault(kind, {})
                if key not in entries and len(entries) >= max_entries:
                    del entries[min(entries, key=lambda k: entries[k][1])]
                entries[key] = (value, self.clock())
            return value

    def _fresh(self, kind: str, key: Hashable, ttl_seconds: float) -> tuple[Any, float] | None:
        """The cached ``(value, made at)`` of ``(kind, key)`` while it is still fresh, else
        None (the runtime's lock held)."""
        hit = self._caches.setdefault(kind, {}).get(key)
        if hit is None or (ttl_seconds and self.clock() - hit[1] >= ttl_seconds):
            return None
        return hit

    def forget(self, kind: str | None = None) -> None:
        """Drop the cached values of ``kind`` (every kind when None)."""
        with self._guard:
            if kind is None:
                self._caches.clear()
            else:
                self._caches.pop(kind, None)

    def lock(self, key: Hashable) -> threading.Lock:
        """The in-process lock named ``key`` (the same object for equal keys)."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def state(self, name: str, make: Callable[[], T]) -> T:
        """The runtime's one object named ``name`` (a pacer, a set of cancel requests...),
        made by ``make()`` on first use and kept until the runtime closes (:meth:`forget`
        does not drop it).

        Args:
            name: what the object is, unique in the process (e.g. ``"api-pacer"``).
            make: builds it, under the runtime's lock (concurrent callers make it once).
        """
        with self._guard:
            if name not in self._states:
                self._states[name] = make()
            return self._states[name]  # type: ignore[no-any-return]

    def registry(self, name: str) -> dict[Any, Any]:
        """A named dict shared by everything in this runtime (e.g. the file locks it holds)."""
        return self.state(name, dict)

    def first_time(self, kind: str, key: Hashable) -> bool:
        """True the first time ``key`` of ``kind`` is seen in this runtime (a warning to log
        once, an import to run once), False after."""
        with self._guard:
            seen = self.registry(kind)
            if key in seen:
                return False
            seen[key] = True
            return True

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer()`` when the runtime closes (a tunnel, a server...)."""
        with self._guard:
            self._closers.append(closer)

    def close(self) -> None:
        """Run the closers (newest first) and drop every cache; a closer's error is swallowed
        after the others ran, as at interpreter exit nobody could act on it."""
        with self._guard:
            closers, self._closers = self._closers[::-1], []
            self._caches.clear()
            self._states.clear()
        for closer in closers:
            with contextlib.suppress(Exception):
                closer()


class _Installed:
    """The process's current :class:`Runtime` (the one root of process state)."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.guard = threading.Lock()


_INSTALLED = _Installed()


def current_runtime() -> Runtime:
    """The process's :class:`Runtime` (made on first use)."""
    with _INSTALLED.guard:
        if _INSTALLED.runtime is None:
            _INSTALLED.runtime = Runtime()
        return _INSTALLED.runtime


@contextlib.contextmanager
def use_runtime(runtime: Runtime | None = None) -> Iterator[Runtime]:
    """Make ``runtime`` (a fresh one when None) the current one for the block, then close it
    and restore the previous one."""
    runtime = runtime or Runtime()
    with _INSTALLED.guard:
        previous, _INSTALLED.runtime = _INSTALLED.runtime, runtime
    try:
        yield runtime
    finally:
        runtime.close()
        with _INSTALLED.guard:
            _INSTALLED.runtime = previous


@atexit.register
def _close_at_exit() -> None:
    if _INSTALLED.runtime is not None:
        _INSTALLED.runtime.close()
