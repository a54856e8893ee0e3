"""Hand each ready file version to ingest exactly once: in this process, or as a deployment run.

Both dispatchers share one shape (:class:`Dispatcher`): ``dispatch``, ``already_sent``,
``confirm``, ``shutdown``, and the ``started`` / ``finished`` / ``failed`` counters guarded by
the ``changed`` condition. Each records a file version in the
:class:`~tasks.sensor.ledger.DispatchLedger` before sending it, so a version goes out once, across
restarts.

* :class:`InProcessDispatcher` runs an injected ingest callable on a bounded thread pool (the
  sensor passes one that runs :func:`flows.ingest.ingest_file`; a tasks module imports no flow).
* :class:`DeploymentDispatcher` creates the ``ingest-file`` deployment's flow run of each file
  (idempotent), for ``postflow up`` or a work pool's workers to execute.

The sensor's loop that drives them is :func:`tasks.sensor.watch_loop.run_watch_loop`. Prefect is
reached only through the injected ``start_run`` callable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from core.logs import run_logger
from tasks.sensor.ingest_runs import IngestRunStarter
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.readiness import FileVersion
from tasks.sensor.recovery import Recovery
from tasks.sensor.run_create_retries import PendingCreate, RunCreateRetries

_log = run_logger("postflow.sensor")


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
        recovery: the retry queue and circuit breaker (:class:`tasks.sensor.recovery.Recovery`);
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
        :class:`tasks.sensor.recovery.Recovery`); returns how many were queued."""
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


class Unstarted(NamedTuple):
    """A file version whose ingest run could not be created yet (the API was unreachable).

    Attributes:
        version: the file version.
        ledger_key: its dispatch-ledger key.
        idempotency_key: the key its run is created with (the same on every attempt).
        attempt: attempts made so far (1 after the first).
        due: when to try again (monotonic seconds).
    """

    version: FileVersion
    ledger_key: str
    idempotency_key: str
    attempt: int
    due: float


class DeploymentDispatcher(Dispatcher):
    """Deployment mode: create each ready file version's ``ingest-file`` flow run.

    The run is created by the sensor itself (:class:`tasks.sensor.ingest_runs.IngestRunStarter`:
    one API request, idempotent on the ledger key) and executed by whatever serves the
    deployment: ``postflow up``'s warm runners, or a worker on a work pool. So a file's run
    exists the moment the sensor sees the file complete; an event trigger would leave it to
    Prefect's automation service, which created them one at a time, up to 27 s late for 20
    files (see :mod:`tasks.sensor.ingest_runs`).

    A run that cannot be created (the API is unreachable, the deployment is not registered
    yet) is tried again after ``retry_seconds``, doubling, up to ``max_attempts`` times; the
    same idempotency key keeps a retry whose first answer was lost from making a second run.
    Each waiting create is kept in the state store (:mod:`tasks.sensor.run_create_retries`) and the
    ledger keeps the file dispatched-not-finished, so a restarted sensor goes on where this
    one stopped.

    Args:
        ledger: the dispatch ledger.
        root: the watch folder; run keys are relative to it.
        concurrency: unused (runs are created on the polling thread); taken so that both
            dispatchers are built with the same first arguments.
        retry_seconds: wait before the second attempt to create a run (seconds; doubles).
        max_attempts: attempts per file before giving up (logged as an error, counted failed).
        start_run: ``(path, size_bytes, mtime_ns, idempotency_key) -> run | None``; default
            an :class:`~tasks.sensor.ingest_runs.IngestRunStarter` on the configured Prefect API.
        logger: where retries and give-ups are reported.
        clock: monotonic clock (seconds).
        recovery: the retry queue that the ingest runs (other processes) record their
            transient failures in (:func:`tasks.sensor.recovery.record_ingest_outcome`); due entries
            get a new run. None: a failed file waits for ``postflow rerun``.
        retry_hold_seconds: after creating a retry run, how long before that file may get
            another if its run records nothing (a very long upload, a killed worker).

    Attributes:
        unstarted: ``{path: Unstarted}``, the files whose run is still to be created.
        retried: attempts made after a first one failed.
    """

    def __init__(
        self,
        ledger: DispatchLedger,
        root: Path,
        concurrency: int = 1,
        *,
        retry_seconds: float = 30.0,
        max_attempts: int = 6,
        start_run: Callable[[str, int, int, str], Any] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] = _log,
        clock: Callable[[], float] = time.monotonic,
        recovery: Recovery | None = None,
        retry_hold_seconds: float = 900.0,
    ) -> None:
        super().__init__(ledger, root)
        del concurrency
        self.recovery, self.retry_hold_seconds = recovery, retry_hold_seconds
        self.retry_seconds, self.max_attempts = retry_seconds, max_attempts
        self._start_run = start_run if start_run is not None else IngestRunStarter(logger=logger)
        self._log, self.clock = logger, clock
        self.unstarted: dict[str, Unstarted] = {}
        self.retried = 0
        self._waiting = RunCreateRetries(ledger.store)
        self._resume()

    def warm_up(self) -> None:
        """Open the Prefect client that creates the runs and find the deployment now, before
        the first file is ready (:meth:`IngestRunStarter.warm_up`; never raises). A
        ``start_run`` without a ``warm_up`` is left as it is."""
        warm = getattr(self._start_run, "warm_up", None)
        if callable(warm):
            try:
                warm()
            except Exception as exc:  # noqa: BLE001 - the first file tries again, and says why
                self._log.debug("Run creation not warmed up: %s", exc)

    def _resume(self) -> None:
        """Take over the creates an earlier sensor left waiting (their due time kept)."""
        offset = self.clock() - time.time()
        for pending in self._waiting.all():
            self.ledger.mark_dispatched(pending.key)  # interrupted: this one sends it
            version = FileVersion(pending.path, pending.size_bytes, pending.mtime_ns)
            job = Unstarted(version, pending.key, pending.idempotency_key, pending.attempt, 0.0)
            self.unstarted[version.path] = job._replace(due=pending.due_at + offset)

    def dispatch(self, version: FileVersion) -> bool:
        """Create the ingest run of ``version`` unless the ledger has it or the circuit breaker
        defers it (Frame.io is down: the ingest runs recorded it, see
        :func:`tasks.sensor.recovery.record_ingest_outcome`); returns True if the run was created
        now (False also when it is queued for another attempt: see :attr:`unstarted`)."""
        key = self.key(version)
        if not self.ledger.should_dispatch(key):
            return False
        if self.recovery is not None and not self.recovery.admit(key, version.path):
            return False  # deferred: retry_due creates its run after the probe
        if not self.ledger.mark_dispatched(key):
            return False
        self._count(started=1)
        return self._attempt(Unstarted(version, key, key, 1, 0.0))

    def retry_due(self) -> int:
        """Create a new run for each file version whose ingest run failed transiently and
        whose retry is due; returns how many runs were created."""
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
            self._count(started=1)
            retry_key = f"{entry.key}:retry:{time.time_ns()}"  # a new run, once
            count += int(self._attempt(Unstarted(version, entry.key, retry_key, 1, 0.0)))
            until = self.recovery.clock() + self.retry_hold_seconds
            self.recovery.queue.defer(entry.key, entry.path, until=until, reason="rerun created")
        return count

    def _attempt(self, job: Unstarted) -> bool:
        version = job.version
        run = self._start_run(
            version.path, version.size_bytes, version.mtime_ns, job.idempotency_key
        )
        if run is not None:
            if job.attempt > 1:
                self._waiting.drop(job.ledger_key)
            self.ledger.mark_finished(job.ledger_key, True)
            self._count(finished=1)
            return True
        if job.attempt >= self.max_attempts:
            self._log.error(
                "No ingest run could be created for %s after %d attempts; once the Prefect "
                "server answers, run `postflow ingest %s`",
                version.path,
                job.attempt,
                version.path,
            )
            self._waiting.drop(job.ledger_key)
            self.ledger.mark_finished(job.ledger_key, False)
            self._count(finished=1, failed=1)
            return False
        wait = self.retry_seconds * 2 ** (job.attempt - 1)
        self.unstarted[version.path] = job._replace(due=self.clock() + wait)
        pending = PendingCreate(
            job.ledger_key,
            version.path,
            version.size_bytes,
            version.mtime_ns,
            job.idempotency_key,
            job.attempt,
            time.time() + wait,
        )
        self._waiting.put(pending)
        return False

    def confirm(self) -> None:
        """Try again to create the runs that could not be created before, once due (a no-op
        when none wait: nothing is queried)."""
        now = self.clock()
        for path, job in list(self.unstarted.items()):
            if job.due <= now:
                del self.unstarted[path]
                self.retried += 1
                self._log.warning(
                    "Creating the ingest run of %s again (attempt %d/%d)",
                    path,
                    job.attempt + 1,
                    self.max_attempts,
                )
                self._attempt(job._replace(attempt=job.attempt + 1))

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Close the Prefect client of the default run starter. Files still in
        :attr:`unstarted` stay dispatched-not-finished in the ledger: the next start sends
        them again."""
        close = getattr(self._start_run, "close", None)
        if callable(close):
            close()
