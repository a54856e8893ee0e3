"""One sensor loop over several productions' watch folders (:mod:`config.productions`).

Each production keeps its own watch folder, ledger, retry queue and circuit breaker (its own
:class:`~tasks.sensor.dispatch.Dispatcher`); :class:`Folders` and :class:`Dispatchers` put them
behind the one watcher and one dispatcher that :func:`tasks.sensor.watch_loop.run_watch_loop`
drives, so a single thread polls every folder and a finished ingest anywhere wakes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tasks.sensor.dispatch import Dispatcher
from tasks.sensor.readiness import FileVersion
from tasks.sensor.watch_loop import Watcher

__all__ = ["Dispatchers", "Folders"]


class Dispatchers(Dispatcher):
    """Several productions' dispatchers as one; counts are their sums.

    Args:
        parts: one dispatcher per production (their watch folders do not overlap).

    Raises:
        ValueError: ``parts`` is empty.
    """

    def __init__(self, parts: Sequence[Dispatcher]) -> None:
        if not parts:
            raise ValueError("no dispatcher")
        super().__init__(parts[0].ledger, Path(parts[0].root))
        self.parts = list(parts)
        for part in self.parts:
            part.changed = self.changed  # one condition: any part's finish wakes the loop

    @property
    def finished(self) -> int:
        """Finished dispatches of every part (read under ``changed``, like the base's)."""
        return sum(part.finished for part in getattr(self, "parts", ()))

    @finished.setter
    def finished(self, value: int) -> None:
        """Counts live in the parts; the base class's initial assignment is ignored."""

    def dispatch(self, version: FileVersion) -> bool:
        """Send ``version`` through the dispatcher whose watch folder holds it; False when
        none does."""
        folder = Path(version.path).parent
        for part in self.parts:
            root = Path(part.root)
            if folder == root or root in folder.parents:
                return part.dispatch(version)
        return False

    def confirm(self) -> None:
        """Let every part retry what it could not send (see each dispatcher's ``confirm``)."""
        for part in self.parts:
            part.confirm()

    def retry_due(self) -> int:
        """Dispatch every part's due retries; returns how many."""
        return sum(part.retry_due() for part in self.parts)

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Shut every part down (see :meth:`Dispatcher.shutdown`)."""
        for part in self.parts:
            part.shutdown(cancel_pending)

    def counts(self) -> dict[str, int]:
        """``{"dispatched", "finished", "failed"}`` summed over the parts."""
        totals = {"dispatched": 0, "finished": 0, "failed": 0}
        for part in self.parts:
            for name, value in part.counts().items():
                totals[name] = totals.get(name, 0) + value
        return totals


class Folders:
    """Several watch folders polled as one (a :class:`~tasks.sensor.watch_loop.Watcher`).

    Args:
        folders: one started-on-enter watch folder per production.
    """

    def __init__(self, folders: Sequence[Watcher]) -> None:
        self.folders = list(folders)
        self._stack = contextlib.ExitStack()

    @property
    def pending_count(self) -> int:
        """Files seen but not yet ready, in every folder."""
        return sum(folder.pending_count for folder in self.folders)

    def poll_once(self) -> None:
        """Poll every folder once (each dispatches its ready files)."""
        for folder in self.folders:
            folder.poll_once()

    def __enter__(self) -> Folders:
        for folder in self.folders:
            self._stack.enter_context(folder)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        return self._stack.__exit__(exc_type, exc, traceback)
