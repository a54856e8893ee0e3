"""Hand each ready file version to ingest exactly once: in this process, or as Prefect events.

Both dispatchers share one shape (:class:`Dispatcher`): ``dispatch``, ``already_sent``,
``confirm``, ``shutdown``, and the ``started`` / ``finished`` / ``failed`` counters guarded by
the ``changed`` condition. Each records a file version in the
:class:`~tasks.ledger.DispatchLedger` before sending it, so a version goes out once, across
restarts.

* :class:`InProcessDispatcher` runs an injected ingest callable on a bounded thread pool (the
  sensor passes one that runs :func:`flows.ingest.ingest_file`; a tasks module imports no flow).
* :class:`EventDispatcher` emits ``postflow.file.ready`` and announces again an event that looks
  lost (:func:`is_overdue`), because Prefect 3.8.8 does not retry a trigger action that failed.

The sensor's loop that drives them is :func:`tasks.watch_loop.run_watch_loop`. Prefect is
reached only through the injected ``run_paths`` and ``emit`` callables.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from tasks.events import emit_file_ready
from tasks.history import run_paths_since
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion
from tasks.recovery import Recovery

_log = logging.getLogger("postflow.sensor")


def is_overdue(
    sent: float, attempt: int, now: float, confirmed_upto: float, window_seconds: float
) -> bool:
    """Whether an announced file's event is taken as lost, so it should be announced again.

    A busy server works through its events in order, late (seen: runs created 100 s after
    their event). So an event is lost only once its window has passed *and* a file announced
    after it already has its run, or once four windows have passed regardless. The window
    doubles with each attempt.

    Args:
        sent: when the event was emitted (monotonic seconds).
        attempt: which emission this was (1 for the first).
        now: the current time (monotonic seconds, same clock as ``sent``).
        confirmed_upto: the latest ``sent`` of any file whose run was seen (monotonic seconds).
        window_seconds: how long a first event may go without a run (seconds).

    Returns:
        True when the event should be emitted again (or given up on).

    Example:
        >>> is_overdue(sent=0.0, attempt=1, now=150.0, confirmed_upto=10.0, window_seconds=120)
        True
    """
    window = window_seconds * 2 ** (attempt - 1)
    waited = now - sent
    if waited < window:
        return False
    return confirmed_upto > sent or waited >= 4 * window


class Dispatcher:
    """What both dispatchers share: the ledger, the run keys and the counters.

    Args:
        ledger: the dispatch ledger (exactly-once bookkeeping).
        root: the watch folder; run keys are relative to it.

    Attributes:
        started / finished / failed: dispatches of this process; read and changed under
            ``changed``, which is notified whenever ``finished`` or ``failed`` moves.
    """

    def __init__(self, ledger: DispatchLedger, root: Path) -> None:
        self.ledger = ledger
        self.root = str(root)
        self.started = 0
        self.finished = 0
        self.failed = 0
        self.changed = threading.Condition()

    def key(self, version: FileVersion) -> str:
        """The ledger key of a file version (``"<relative path>:<size>:<mtime_ns>"``)."""
        return version.key(self.root)

    def already_sent(self, version: FileVersion) -> bool:
        """True when this file version was dispatched or finished before."""
        return not self.ledger.should_dispatch(self.key(version))

    def dispatch(self, version: FileVersion) -> bool:
        """Send ``version`` unless the ledger has it; returns True if it was sent."""
        raise NotImplementedError

    def confirm(self) -> None:
        """Check that what was sent arrived (nothing to check by default)."""

    def retry_due(self) -> int:
        """Dispatch again the failed file versions whose retry is due; returns how many
        (none by default)."""
        return 0

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Release what the dispatcher holds (nothing by default)."""

    def counts(self) -> dict[str, int]:
        """``{"dispatched", "finished", "failed"}`` of this process so far."""
        with self.changed:
            return {"dispatched": self.started, "finished": self.finished, "failed": self.failed}

    def _count(self, *, started: int = 0, finished: int = 0, failed: int = 0) -> None:
        with self.changed:
            self.started += started
            self.finished += finished
            self.failed += failed
            self.changed.notify_all()


# What an ingest callable returns: True or None when the ingest completed, False or the
# exception it ended with when it failed.
IngestOutcome = bool | BaseException | None


class InProcessDispatcher(Dispatcher):
    """Run ``ingest`` for ready file versions on a bounded thread pool, once each.

    Args:
        ledger: the dispatch ledger.
        root: the watch folder; run keys are relative to it.
        concurrency: ingests at once (threads).
        ingest: ``path -> IngestOutcome``: runs one ingest; True/None when it completed,
            False or the exception when it failed (a raised exception counts the same). The
            ledger records the outcome either way.
        recovery: the retry queue and circuit breaker (:class:`tasks.recovery.Recovery`);
            None: a failed file waits for a manual rerun.
    """

    def __init__(
        self,
        ledger: DispatchLedger,
        root: Path,
        concurrency: int,
        *,
        ingest: Callable[[str], IngestOutcome],
        recovery: Recovery | None = None,
    ) -> None:
        super().__init__(ledger, root)
        self._ingest = ingest
        self.recovery = recovery
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ingest")

    def dispatch(self, version: FileVersion) -> bool:
        """Queue the ingest of ``version`` unless the ledger has it or the circuit breaker
        defers it; returns True if queued."""
        key = self.key(version)
        if not self.ledger.should_dispatch(key):
            return False
        if self.recovery is not None and not self.recovery.admit(key, version.path):
            return False  # deferred: the retry queue brings it back after the probe
        if not self.ledger.mark_dispatched(key):
            return False
        self._submit(version.path, key)
        return True

    def retry_due(self) -> int:
        """Dispatch again the failed file versions whose retry is due (see
        :class:`tasks.recovery.Recovery`); returns how many were queued."""
        if self.recovery is None:
            return 0
        count = 0
        for entry in self.recovery.due():
            if self.ledger.mark_retrying(entry.key):
                self._submit(entry.path, entry.key)
                count += 1
            else:
                self.recovery.queue.release(entry.key)
        return count

    def _submit(self, path: str, key: str) -> None:
        self._count(started=1)
        future = self.pool.submit(self._run, path, key)
        future.add_done_callback(self._done)

    def _run(self, path: str, key: str) -> bool:
        error: BaseException | None = None
        try:
            result = self._ingest(path)
        except Exception as exc:  # noqa: BLE001 - an ingest's failure, recorded below
            result = exc
        ok = result is None or result is True
        if isinstance(result, BaseException):
            error = result
        elif not ok:
            error = RuntimeError(f"ingest of {path} failed")
        self.ledger.mark_finished(key, ok)
        if self.recovery is not None:
            self.recovery.outcome(key, path, error)
        if error is not None and not isinstance(result, bool):
            raise error
        return ok

    def _done(self, future: Future[Any]) -> None:
        if future.cancelled():  # dropped on Ctrl-C: unfinished, the next start sends it
            return
        failed = future.exception() is not None or not future.result()
        self._count(finished=1, failed=int(failed))

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Wait for running ingests and stop the pool.

        Args:
            cancel_pending: drop queued, not yet started ingests (on Ctrl-C); their ledger
                entries stay unfinished, so the next start sends them again.
        """
        self.pool.shutdown(wait=True, cancel_futures=cancel_pending)


class Announcement(NamedTuple):
    """A ``postflow.file.ready`` event that awaits its ingest run.

    Attributes:
        version: the file version announced.
        sent: when it was emitted (monotonic seconds).
        sent_at: the same moment on the wall clock (for the Prefect API query).
        attempt: which emission this was (1 for the first).
    """

    version: FileVersion
    sent: float
    sent_at: datetime
    attempt: int


class EventDispatcher(Dispatcher):
    """Deployed mode: emit ``postflow.file.ready`` per ready file version instead of ingesting.

    The ``ingest-file`` deployment's trigger turns each event into a flow run (prefect.yaml).
    Prefect 3.8.8 does not retry a trigger action that fails (seen: the server answered the
    ``run-deployment`` action 503 under load, and that file never got a run), so
    :meth:`confirm` checks that each announced file got an ``ingest-file`` run and announces it
    again when :func:`is_overdue` says its event was lost, up to ``max_attempts`` times. Ingest
    is idempotent, so an event that does arrive twice uploads nothing new.

    Args:
        ledger: the dispatch ledger.
        root: the watch folder; run keys are relative to it.
        concurrency: unused (events go out on the polling thread); taken so that both
            dispatchers are built with the same first arguments.
        confirm_seconds: how long a first event may go without a run (seconds).
        max_attempts: emissions per file before giving up (logged as an error, counted failed).
        run_paths: ``since -> {path}`` of the ingest runs created since then (Prefect API).
        emit: ``(path, size_bytes, mtime_ns, key) -> event``; returns None when no API is
            reachable (then the dispatch counts as failed).
        logger: where re-announcements and give-ups are reported.
        clock: monotonic clock (seconds).
        wall_clock: current UTC time, for the run look-up.
        recovery: the retry queue that the ingest runs (other processes) record their
            transient failures in (:func:`tasks.recovery.record_ingest_outcome`); due entries
            are announced again. None: a failed file waits for ``postflow rerun``.
        retry_hold_seconds: after announcing a retry, how long before it may be announced
            again if its run records nothing (a lost event, a very long upload).
    """

    def __init__(
        self,
        ledger: DispatchLedger,
        root: Path,
        concurrency: int = 1,
        *,
        confirm_seconds: float = 120.0,
        max_attempts: int = 3,
        run_paths: Callable[[datetime], set[str]] = run_paths_since,
        emit: Callable[[str, int, int, str], Any] = emit_file_ready,
        logger: logging.Logger | logging.LoggerAdapter[Any] = _log,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recovery: Recovery | None = None,
        retry_hold_seconds: float = 900.0,
    ) -> None:
        super().__init__(ledger, root)
        del concurrency
        self.recovery, self.retry_hold_seconds = recovery, retry_hold_seconds
        self.confirm_seconds, self.max_attempts = confirm_seconds, max_attempts
        self._run_paths, self._emit, self._log = run_paths, emit, logger
        self.clock, self.wall_clock = clock, wall_clock
        self.awaiting: dict[str, Announcement] = {}
        self.reemitted = 0
        self._next_check = 0.0
        self._confirmed_upto = 0.0  # latest `sent` of a file that got its run

    def dispatch(self, version: FileVersion) -> bool:
        """Announce ``version`` unless the ledger has it or the circuit breaker defers it
        (Frame.io is down: the ingest runs recorded it, see
        :func:`tasks.recovery.record_ingest_outcome`); returns True if the event went out."""
        key = self.key(version)
        if not self.ledger.should_dispatch(key):
            return False
        if self.recovery is not None and not self.recovery.admit(key, version.path):
            return False  # deferred: retry_due announces it after the probe
        if not self.ledger.mark_dispatched(key):
            return False
        ok = self._send(version, attempt=1)
        self.ledger.mark_finished(key, ok)
        self._count(started=1, finished=1, failed=0 if ok else 1)
        return ok

    def retry_due(self) -> int:
        """Announce again the file versions whose ingest run failed transiently and whose
        retry is due; returns how many events went out."""
        if self.recovery is None:
            return 0
        count = 0
        for entry in self.recovery.due():
            try:
                info = os.stat(entry.path)
            except OSError:
                self.recovery.queue.forget(entry.key)
                continue
            if not self.ledger.mark_retrying(entry.key):
                self.recovery.queue.release(entry.key)
                continue
            version = FileVersion(entry.path, info.st_size, info.st_mtime_ns)
            ok = self._send(version, attempt=1)
            self.ledger.mark_finished(entry.key, ok)
            self._count(started=1, finished=1, failed=0 if ok else 1)
            until = self.recovery.clock() + self.retry_hold_seconds
            self.recovery.queue.defer(entry.key, entry.path, until=until, reason="announced")
            count += int(ok)
        return count

    def _send(self, version: FileVersion, attempt: int) -> bool:
        event = self._emit(version.path, version.size_bytes, version.mtime_ns, self.key(version))
        if event is not None:
            self.awaiting[version.path] = Announcement(
                version, self.clock(), self.wall_clock(), attempt
            )
        return event is not None

    def confirm(self) -> None:
        """Announce again the files whose event looks lost (see :func:`is_overdue`).

        Cheap per poll: it queries the API only while events await a run, at most every
        ``confirm_seconds / 4`` (capped at 30 s); an unreachable API is retried later.
        """
        now = self.clock()
        if not self.awaiting or now < self._next_check:
            return
        self._next_check = now + min(self.confirm_seconds / 4, 30.0)
        oldest = min(a.sent_at for a in self.awaiting.values())
        try:
            seen = self._run_paths(oldest - timedelta(seconds=5))
        except Exception as exc:  # noqa: BLE001 - the API is down: keep waiting, check later
            self._log.warning("Cannot check for ingest runs yet: %s", exc)
            return
        for path, announced in list(self.awaiting.items()):
            if path in seen:
                del self.awaiting[path]
                self._confirmed_upto = max(self._confirmed_upto, announced.sent)
        for path, announced in list(self.awaiting.items()):
            sent, attempt = announced.sent, announced.attempt
            if is_overdue(sent, attempt, now, self._confirmed_upto, self.confirm_seconds):
                del self.awaiting[path]
                self._announce_again(announced, now)

    def _announce_again(self, announced: Announcement, now: float) -> None:
        path, attempt = announced.version.path, announced.attempt
        if attempt >= self.max_attempts:
            self._log.error(
                "No ingest run for %s after %d events; run `postflow ingest %s`",
                path,
                attempt,
                path,
            )
            self._count(failed=1)
            return
        self._log.warning(
            "No ingest run for %s %.0f s after its event (later files have theirs); "
            "emitting it again (%d/%d)",
            path,
            now - announced.sent,
            attempt + 1,
            self.max_attempts,
        )
        self.reemitted += 1
        self._send(announced.version, attempt + 1)
