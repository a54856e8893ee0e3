"""Watch BY_SHOT and ingest every file once it is complete.

The story: start a watchdog observer on the watch folder (polling by default: LucidLink/FUSE
fires no events for other machines' writes), scan what is already there, and on every poll
hand each *ready* file version to :func:`flows.ingest.ingest_file`, in this process, at most
``ingest_concurrency`` at a time. A small ledger in the state directory makes each file version
``(path, size, mtime_ns)`` go out exactly once, across restarts. The loop itself runs no
Prefect task, so the sensor's memory stays flat over hours.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from blocks.settings import effective_settings
from config.settings import PostflowSettings
from flows.ingest import ingest_file
from tasks.events import emit_file_ready
from tasks.history import run_paths_since
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion
from tasks.watch_folder import WatchFolder, parse_since


def _run_name() -> str:
    path = flow_run.parameters.get("watch_path") or PostflowSettings().watch_path
    return f"watch {path}"


class InProcessDispatcher:
    """Run ``ingest_file`` for ready file versions on a bounded thread pool, once each.

    Args:
        ledger: the dispatch ledger (exactly-once bookkeeping).
        root: watch folder; keys are relative to it.
        concurrency: ingests at once.
    """

    def __init__(self, ledger: DispatchLedger, root: Path, concurrency: int) -> None:
        self.ledger = ledger
        self.root = str(root)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="ingest")
        self.running: set[Future[Any]] = set()
        self.started = 0
        self.finished = 0
        self.failed = 0
        self.changed = threading.Condition()

    def key(self, version: FileVersion) -> str:
        """The ledger key of a file version."""
        return version.key(self.root)

    def already_sent(self, version: FileVersion) -> bool:
        """True when this file version was dispatched or finished before."""
        return not self.ledger.should_dispatch(self.key(version))

    def dispatch(self, version: FileVersion) -> bool:
        """Start the ingest of ``version`` unless the ledger has it; returns True if started."""
        key = self.key(version)
        if not self.ledger.mark_dispatched(key):
            return False
        future = self.pool.submit(self._ingest, version.path, key)
        with self.changed:
            self.running.add(future)
            self.started += 1
        future.add_done_callback(self._done)
        return True

    def _ingest(self, path: str, key: str) -> bool:
        ok = False
        try:
            state = ingest_file(path, return_state=True)
            ok = state.is_completed()
        finally:
            self.ledger.mark_finished(key, ok)
        return ok

    def _done(self, future: Future[Any]) -> None:
        with self.changed:
            self.running.discard(future)
            self.finished += 1
            if future.exception() is not None or not future.result():
                self.failed += 1
            self.changed.notify_all()

    def confirm(self) -> None:
        """Nothing to confirm in process: each ingest's outcome is known directly."""

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Wait for running ingests and stop the pool.

        Args:
            cancel_pending: drop queued, not yet started ingests (on Ctrl-C); their ledger
                entries stay unfinished, so the next start sends them again.
        """
        self.pool.shutdown(wait=True, cancel_futures=cancel_pending)


class EventDispatcher(InProcessDispatcher):
    """Deployed mode: emit ``postflow.file.ready`` per ready file version instead of ingesting.

    The ``ingest-file`` deployment's trigger turns each event into a flow run (prefect.yaml).
    Prefect 3.8.8 does not retry a trigger action that fails (seen: the server answered the
    ``run-deployment`` action 503 under load, and that file never got a run), so
    :meth:`confirm` checks that each emitted file got an ``ingest-file`` run and emits again
    when it did not within ``confirm_seconds`` while later files did (see :meth:`_overdue`),
    up to ``max_attempts`` times. Ingest is
    idempotent, so an event that does arrive twice uploads nothing new.

    Args:
        ledger, root, concurrency: as :class:`InProcessDispatcher`.
        confirm_seconds: how long an emitted file may go without a run (seconds).
        max_attempts: emissions per file before giving up (logged as an error).
        run_paths: ``since -> {path}`` of ingest runs created since then (the Prefect API).
        emit: sends the event; returns None when no API is reachable.
        logger: where re-emissions are reported.
    """

    def __init__(
        self,
        ledger: DispatchLedger,
        root: Path,
        concurrency: int,
        confirm_seconds: float = 120.0,
        max_attempts: int = 3,
        run_paths: Callable[[datetime], set[str]] = run_paths_since,
        emit: Callable[..., Any] = emit_file_ready,
        logger: logging.Logger | logging.LoggerAdapter = logging.getLogger("postflow.sensor"),
    ) -> None:
        super().__init__(ledger, root, concurrency)
        self.confirm_seconds, self.max_attempts = confirm_seconds, max_attempts
        self._run_paths, self._emit, self._log = run_paths, emit, logger
        # path -> (version, monotonic send time, wall-clock send time, attempt)
        self.awaiting: dict[str, tuple[FileVersion, float, datetime, int]] = {}
        self.reemitted = 0
        self._next_check = 0.0
        self._confirmed_upto = 0.0  # latest monotonic send time of a file that got its run

    def _send(self, version: FileVersion, attempt: int) -> bool:
        key = self.key(version)
        event = self._emit(version.path, version.size_bytes, version.mtime_ns, key)
        if event is not None:
            self.awaiting[version.path] = (version, time.monotonic(), datetime.now(UTC), attempt)
        return event is not None

    def confirm(self) -> None:
        """Emit again for files whose event produced no ingest run in ``confirm_seconds``.

        Cheap per poll: it queries the API only while events await a run, at most every
        ``confirm_seconds / 4`` (capped at 30 s); an unreachable API is retried later.
        """
        now = time.monotonic()
        if not self.awaiting or now < self._next_check:
            return
        self._next_check = now + min(self.confirm_seconds / 4, 30.0)
        oldest = min(sent_at for _, _, sent_at, _ in self.awaiting.values())
        try:
            seen = self._run_paths(oldest - timedelta(seconds=5))
        except Exception as exc:  # noqa: BLE001 - the API is down: keep waiting, check later
            self._log.warning("Cannot check for ingest runs yet: %s", exc)
            return
        for path, (_, sent, _, _) in list(self.awaiting.items()):
            if path in seen:
                del self.awaiting[path]
                self._confirmed_upto = max(self._confirmed_upto, sent)
        for path, (version, sent, _, attempt) in list(self.awaiting.items()):
            if self._overdue(sent, attempt, now):
                del self.awaiting[path]
                if attempt >= self.max_attempts:
                    self._log.error(
                        "No ingest run for %s after %d events; run `postflow ingest %s`",
                        path,
                        attempt,
                        path,
                    )
                    with self.changed:
                        self.failed += 1
                    continue
                self._log.warning(
                    "No ingest run for %s %.0f s after its event (later files have theirs); "
                    "emitting it again (%d/%d)",
                    path,
                    now - sent,
                    attempt + 1,
                    self.max_attempts,
                )
                self.reemitted += 1
                self._send(version, attempt + 1)

    def _overdue(self, sent: float, attempt: int, now: float) -> bool:
        """A busy server works through its events in order, late (seen: runs created 100 s
        after their event): an event is taken as lost once its window (doubling per attempt)
        has passed *and* a file sent after it has its run, or after four windows regardless."""
        window = self.confirm_seconds * 2 ** (attempt - 1)
        if now - sent < window:
            return False
        return self._confirmed_upto > sent or now - sent >= 4 * window

    def dispatch(self, version: FileVersion) -> bool:
        key = self.key(version)
        if not self.ledger.mark_dispatched(key):
            return False
        ok = self._send(version, attempt=1)
        self.ledger.mark_finished(key, ok)
        with self.changed:
            self.started += 1
            self.finished += 1
            self.failed += 0 if ok else 1
            self.changed.notify_all()
        return ok


@flow(name="watch-by-shot", flow_run_name=_run_name, log_prints=False)
def watch_by_shot(
    watch_path: str | None = None,
    since: str | None = None,
    stop_after_files: int | None = None,
    max_runtime_seconds: float | None = None,
) -> dict[str, int]:
    """Watch the BY_SHOT folder and ingest each complete file once.

    Args:
        watch_path: overrides ``POSTFLOW_WATCH_PATH``.
        since: startup-scan cutoff: ``"12h"``, ``"7d"``, an ISO date, or epoch seconds; files
            modified before it are left alone. None scans everything (the ledger still
            prevents resending).
        stop_after_files: return once this many ingests have finished (demo, tests).
        max_runtime_seconds: return after this long (tests); None runs until cancelled.

    Returns:
        ``{"dispatched", "finished", "failed", "pending"}`` counts for this run.

    Raises:
        ConfigurationError: the watch folder is missing or settings are invalid.
    """
    settings = effective_settings()
    logger = get_run_logger()
    root = Path(watch_path or settings.watch_path).resolve()
    ledger = DispatchLedger(settings.ledger_path)
    for key in ledger.interrupted():
        logger.warning("Ingest of %s was interrupted by a restart; it will be sent again", key)
    if settings.dispatch_mode == "events":
        dispatcher: InProcessDispatcher = EventDispatcher(
            ledger,
            root,
            settings.ingest_concurrency,
            confirm_seconds=settings.event_confirm_seconds,
            max_attempts=settings.event_max_attempts,
            logger=logger,
        )
    else:
        dispatcher = InProcessDispatcher(ledger, root, settings.ingest_concurrency)
    watcher = WatchFolder(
        root,
        dispatcher.dispatch,
        skip=dispatcher.already_sent,
        settle_seconds=settings.settle_seconds,
        tail_check_bytes=settings.tail_check_bytes,
        poll_interval_seconds=settings.poll_interval_seconds,
        use_polling=settings.use_polling_observer,
        recursive=settings.watch_recursive,
        since_epoch=parse_since(since),
        ignore_patterns=settings.ignore_patterns,
    )
    mode = "polling" if settings.use_polling_observer else "native events"
    logger.info(
        "Watching %s (%s, settle %.0f s, %s)",
        root,
        mode,
        settings.settle_seconds,
        "emitting postflow.file.ready" if settings.dispatch_mode == "events" else "ingesting here",
    )
    deadline = time.monotonic() + max_runtime_seconds if max_runtime_seconds else None
    interrupted = False
    try:
        with watcher:
            while True:
                watcher.poll_once()
                dispatcher.confirm()
                with dispatcher.changed:
                    if stop_after_files is not None and dispatcher.finished >= stop_after_files:
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    dispatcher.changed.wait(settings.poll_interval_seconds)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: do not start the queued backlog (the ledger resends it)
        raise
    finally:
        dispatcher.shutdown(cancel_pending=interrupted)
    counts = {
        "dispatched": dispatcher.started,
        "finished": dispatcher.finished,
        "failed": dispatcher.failed,
        "pending": watcher.pending_count,
    }
    logger.info("Sensor stopped: %s", counts)
    return counts
