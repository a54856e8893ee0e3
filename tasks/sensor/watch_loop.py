"""The sensor's loop: poll the watch folder, confirm what was sent, retry what is due, wait.

:func:`run_watch_loop` drives a watch folder (:class:`tasks.sensor.watch_folder.WatchFolder`) and a
dispatcher (:mod:`tasks.sensor.dispatch`) until a file count, a deadline, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from tasks.sensor.dispatch import Dispatcher

__all__ = ["Watcher", "run_watch_loop"]


class Watcher(Protocol):
    """What :func:`run_watch_loop` needs of a watch folder, such as a ``WatchFolder``."""

    @property
    def pending_count(self) -> int: ...

    def poll_once(self) -> Any: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any: ...


def run_watch_loop(
    watcher: Watcher,
    dispatcher: Dispatcher,
    *,
    poll_interval_seconds: float,
    stop_after_files: int | None = None,
    max_runtime_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """Poll ``watcher`` and confirm ``dispatcher`` until told to stop; then shut it down.

    Args:
        watcher: the started-on-enter watch folder; each poll dispatches the ready files.
        dispatcher: sends each ready file version once.
        poll_interval_seconds: longest wait between polls (seconds); a finished ingest wakes
            the loop early.
        stop_after_files: return once this many dispatches have finished; None: no limit.
        max_runtime_seconds: return after this long (seconds); None: until interrupted.
        clock: monotonic clock (seconds).

    Returns:
        ``{"dispatched", "finished", "failed", "pending"}`` counts of this run.

    Raises:
        KeyboardInterrupt: Ctrl-C; queued, not yet started ingests are dropped (the ledger
            sends them on the next start) and running ones are allowed to finish.
    """
    deadline = clock() + max_runtime_seconds if max_runtime_seconds else None
    interrupted = False
    try:
        with watcher:
            while True:
                watcher.poll_once()
                dispatcher.confirm()
                dispatcher.retry_due()
                with dispatcher.changed:
                    if stop_after_files is not None and dispatcher.finished >= stop_after_files:
                        break
                    if deadline is not None and clock() >= deadline:
                        break
                    dispatcher.changed.wait(poll_interval_seconds)
    except BaseException:  # Ctrl-C, SIGTERM (SystemExit, or Prefect's TerminationSignal)...
        interrupted = True  # ...or a crash: do not start the queued backlog
        raise
    finally:
        dispatcher.shutdown(cancel_pending=interrupted)
    return {**dispatcher.counts(), "pending": watcher.pending_count}
