"""Recovery without a human: the sensor's retry queue and circuit breaker, used together.

An ingest that fails transiently (an outage, 5xx, a 429 storm, the network) after its task
retries is not lost: :class:`Recovery` queues its file version with capped exponential backoff
(:class:`~tasks.recovery.retry_queue.RetryQueue`, persisted in the state store) and the sensor
dispatches
it again when it is due. While Frame.io keeps failing, the
:class:`~tasks.recovery.circuit.CircuitBreaker` opens: ready files are deferred instead of each
burning
its retries, one probe goes out after the cool-down, and the breaker closes on its success.
Permanent failures (a bad name, 403, 404, 422) are never retried.

The sensor owns one :class:`Recovery`. In process it sees every ingest's outcome
(:meth:`Recovery.outcome`); under ``postflow up`` each ingest run records its own outcome in
the same state store (:func:`record_ingest_outcome`), and the sensor's dispatcher reads them
before it creates a run. ``status`` and ``health`` read the state with
:func:`tasks.recovery.circuit.read_circuit_state` and
:func:`tasks.recovery.retry_queue.read_retry_queue`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocks.store import open_store
from config.settings import PostflowSettings
from core.errors import ConfigurationError
from core.logs import run_logger
from tasks.recovery.circuit import CircuitBreaker, emit_circuit_event
from tasks.recovery.retry_queue import RetryEntry, RetryQueue, classify_failure
from tasks.sensor.readiness import FileVersion

__all__ = ["Recovery", "circuit_breaker_for", "record_ingest_outcome", "retry_queue_for"]

_log = run_logger("postflow.sensor")


def retry_queue_for(
    settings: PostflowSettings, clock: Callable[[], float] = time.time
) -> RetryQueue:
    """The retry queue in the settings' state store (:func:`blocks.store.open_store`) with the
    ``retry_*_seconds`` settings (``clock``: Unix time in seconds, injected in tests).

    Raises:
        ValueError: the delays are inconsistent (max below base).
        StateStoreError: the store cannot be opened (an ``OSError``).
    """
    return RetryQueue(
        open_store(settings),
        base_delay_seconds=settings.retry_base_delay_seconds,
        max_delay_seconds=settings.retry_max_delay_seconds,
        give_up_after_seconds=settings.retry_give_up_after_seconds,
        clock=clock,
    )


def circuit_breaker_for(
    settings: PostflowSettings,
    *,
    owner: bool,
    on_transition: Any = emit_circuit_event,
    clock: Callable[[], float] = time.time,
) -> CircuitBreaker:
    """The circuit breaker in the settings' state store with the ``circuit_*`` settings.

    Args:
        settings: the state store's settings and ``circuit_*`` are read.
        owner: True for the sensor (it hands out probes), False for an ingest run that only
            records its outcome (see :class:`tasks.recovery.circuit.CircuitBreaker`).
        on_transition: the open/close callback (Prefect events by default).

    Raises:
        StateStoreError: the store cannot be read or written (an ``OSError``).
        ValueError: a threshold or duration is invalid.
    """
    return CircuitBreaker(
        open_store(settings),
        failure_threshold=settings.circuit_failure_threshold,
        cool_down_seconds=settings.circuit_cool_down_seconds,
        max_cool_down_seconds=settings.circuit_max_cool_down_seconds,
        on_transition=on_transition,
        owner=owner,
        clock=clock,
    )


def record_ingest_outcome(
    settings: PostflowSettings, path: str, error: BaseException | None
) -> None:
    """Deployment mode (``postflow up``): tell the sensor's retry queue and circuit breaker how
    an ingest ended.

    The ingest runs in another process than the sensor (maybe on another machine), so the
    flow records its own outcome in the shared state store (one transaction per change): a transient
    failure is queued with backoff and counts towards opening the breaker, a success clears
    the entry and closes the breaker, a permanent failure is dropped (and proves Frame.io
    answers). The sensor's :class:`~tasks.sensor.dispatch.DeploymentDispatcher` defers new files
    while the breaker is open and creates a new run for each due entry. A file that is gone,
    or state that cannot be written, is logged and skipped: recording must never fail the
    ingest.

    Args:
        settings: ``watch_path``, ``state_dir``, ``retry_*`` and ``circuit_*`` are read.
        path: the ingested file's absolute path.
        error: what the ingest failed with, or None when it completed.
    """
    try:
        breaker = circuit_breaker_for(settings, owner=False)
        if error is None:
            breaker.record_success()
        else:
            kind, transient = classify_failure(error)
            breaker.record_failure(transient, kind)
    except (OSError, ValueError) as exc:
        _log.warning("Could not record the outcome of %s for the circuit breaker: %s", path, exc)
    try:
        info = os.stat(path)
        root = str(Path(settings.watch_path).resolve())
        key = FileVersion(path, info.st_size, info.st_mtime_ns).key(root)
        queue = retry_queue_for(settings)
        if error is None:
            queue.succeeded(key)
            return
        kind, transient = classify_failure(error)
        retry_after = getattr(error, "retry_after_seconds", None)
        queue.add(key, path, kind, transient, retry_after_seconds=retry_after)
    except (OSError, ValueError) as exc:
        _log.warning("Could not record the outcome of %s for the retry queue: %s", path, exc)


@dataclass
class Recovery:
    """The retry queue and circuit breaker of one sensor.

    Attributes:
        queue: transient failures waiting for their next try.
        breaker: stops dispatching while Frame.io is down.
        root: the watch folder (file version keys are relative to it).
        clock: Unix time in seconds.
    """

    queue: RetryQueue
    breaker: CircuitBreaker
    root: str
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(
        cls,
        settings: PostflowSettings,
        root: str,
        on_transition: Any = emit_circuit_event,
        clock: Callable[[], float] = time.time,
    ) -> Recovery:
        """The sensor's recovery state in ``settings.state_dir`` (``retry_*``, ``circuit_*``;
        ``clock``: Unix time in seconds, injected in tests).

        Raises:
            ConfigurationError: the state directory is not writable, or a duration is invalid.
        """
        try:
            queue = retry_queue_for(settings, clock)
            breaker = circuit_breaker_for(
                settings, owner=True, on_transition=on_transition, clock=clock
            )
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"recovery state in {settings.state_dir}: {exc}") from exc
        return cls(queue, breaker, root, clock)

    def admit(self, key: str, path: str) -> bool:
        """Whether ``path`` may be ingested now; when not (breaker open), it is deferred to
        the next probe time and :meth:`due` brings it back."""
        if self.breaker.allow():
            return True
        until = self.breaker.snapshot().get("probe_at") or self.clock()
        self.queue.defer(key, path, until=float(until))
        return False

    def outcome(self, key: str, path: str, error: BaseException | None) -> None:
        """Record how an ingest of ``key`` ended (``error`` None: it completed)."""
        if error is None:
            self.breaker.record_success()
            self.queue.succeeded(key)
            return
        kind, transient = classify_failure(error)
        self.breaker.record_failure(transient, kind)
        retry_after = getattr(error, "retry_after_seconds", None)
        entry = self.queue.add(key, path, kind, transient, retry_after_seconds=retry_after)
        if entry is None:
            return
        if entry.gave_up_at is not None:
            _log.error(
                "Gave up on %s after %d tries (%s); run `postflow ingest` on it when "
                "Frame.io is back",
                path,
                entry.attempts,
                kind,
            )
        else:
            _log.warning(
                "Ingest of %s failed (%s); trying again in %.0f s",
                path,
                kind,
                entry.next_attempt_at - self.clock(),
            )

    def due(self) -> list[RetryEntry]:
        """The queued file versions to dispatch again now (claimed; each is then reported
        back through :meth:`outcome`). Entries whose file is gone or has changed since are
        dropped: the watcher sends the new version itself."""
        ready: list[RetryEntry] = []
        for entry in self.queue.due():
            if not self._still_current(entry):
                self.queue.forget(entry.key)
            elif not self.breaker.allow():
                self.queue.release(entry.key)
            else:
                ready.append(entry)
        return ready

    def _still_current(self, entry: RetryEntry) -> bool:
        try:
            info = os.stat(entry.path)
        except OSError:
            return False
        version = FileVersion(entry.path, info.st_size, info.st_mtime_ns)
        return version.key(self.root) == entry.key
