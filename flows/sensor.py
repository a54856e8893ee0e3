"""Watch BY_SHOT and ingest every file once it is complete.

The story: start a watchdog observer on the watch folder (polling by default: LucidLink/FUSE
fires no events for other machines' writes), scan what is already there, and on every poll
hand each *ready* file version to :func:`flows.ingest.ingest_file`, in this process, at most
``ingest_concurrency`` at a time. A small ledger in the state directory makes each file version
``(path, size, mtime_ns)`` go out exactly once, across restarts. The loop itself runs no
Prefect task, so the sensor's memory stays flat over hours.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from blocks.settings import effective_settings
from blocks.watch_folder import WatchFolder, parse_since
from config.settings import PostflowSettings
from flows.ingest import ingest_file
from tasks.events import emit_file_ready
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion


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
    A version counts as finished once its event is emitted; ingest is idempotent, so an event
    that arrives twice (after a crash between emit and ledger write) uploads nothing new.
    """

    def dispatch(self, version: FileVersion) -> bool:
        key = self.key(version)
        if not self.ledger.mark_dispatched(key):
            return False
        event = emit_file_ready(version.path, version.size_bytes, version.mtime_ns, key)
        ok = event is not None
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
    dispatcher_type = EventDispatcher if settings.dispatch_mode == "events" else InProcessDispatcher
    dispatcher = dispatcher_type(ledger, root, settings.ingest_concurrency)
    watcher = WatchFolder(
        root, dispatcher.dispatch, skip=dispatcher.already_sent,
        settle_seconds=settings.settle_seconds, tail_check_bytes=settings.tail_check_bytes,
        poll_interval_seconds=settings.poll_interval_seconds,
        use_polling=settings.use_polling_observer, recursive=settings.watch_recursive,
        since_epoch=parse_since(since), ignore_patterns=settings.ignore_patterns,
    )  # fmt: skip
    mode = "polling" if settings.use_polling_observer else "native events"
    logger.info(
        "Watching %s (%s, settle %.0f s, %s)", root, mode, settings.settle_seconds,
        "emitting postflow.file.ready" if settings.dispatch_mode == "events" else "ingesting here",
    )  # fmt: skip
    deadline = time.monotonic() + max_runtime_seconds if max_runtime_seconds else None
    interrupted = False
    try:
        with watcher:
            while True:
                watcher.poll_once()
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
        "dispatched": dispatcher.started, "finished": dispatcher.finished,
        "failed": dispatcher.failed, "pending": watcher.pending_count,
    }  # fmt: skip
    logger.info("Sensor stopped: %s", counts)
    return counts
