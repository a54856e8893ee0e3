"""The BY_SHOT watch folder: watchdog observer + readiness polling + startup scan.

On LucidLink (a FUSE mount) writes made by *other* machines fire no inotify/FSEvents events,
so the default observer is watchdog's ``PollingObserver``, which diffs directory snapshots
every ``poll_interval_seconds``. Events only tell us *which* files to look at; readiness is
decided by re-``stat``-ing those candidates on every poll (:mod:`tasks.sensor.readiness`), because a
file that stopped growing fires no further event. Nothing here calls Prefect: memory stays flat
(one snapshot of the tree plus one record per not-yet-ready file).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from core.errors import ConfigurationError
from core.logs import run_logger
from tasks.sensor.completeness import container_incomplete
from tasks.sensor.readiness import FileVersion, ReadinessTracker, Verdict
from tasks.structure.naming import ignore_reason, normalise_name, shown_name

log = run_logger("postflow.sensor")


def refusal_reason(path: str, root: Path, allow_inner_symlinks: bool = False) -> str | None:
    """Why ``path`` must never be ingested, or None when it may be.

    Refused: a name that is not valid UTF-8 (Frame.io names are UTF-8; an old Samba or
    Windows client may write Latin-1 bytes), a symlink (unless ``allow_inner_symlinks`` and
    its target is a regular file inside ``root``), and anything that is not a regular file
    (FIFO, socket, device: reading one could block or never end).

    Args:
        path: a path in the watch folder.
        root: the watch folder.
        allow_inner_symlinks: accept symlinks that stay inside ``root``.

    Returns:
        A sentence naming the file with escapes and what to do, or None. A file that is gone
        returns None (the caller's ``stat`` notices).
    """
    shown = shown_name(path)
    if shown != os.path.basename(path):
        return f"the name {shown} is not valid UTF-8; rename it (e.g. on the machine that wrote it)"
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        inside = os.path.commonpath([target, os.path.realpath(root)]) == os.path.realpath(root)
        if allow_inner_symlinks and inside and os.path.isfile(target):
            return None
        where = "inside" if inside else "outside"
        return f"{shown} is a symlink to a file {where} the watch folder; symlinks are not followed"
    if not stat.S_ISREG(info.st_mode):
        return f"{shown} is not a regular file (a FIFO, socket or device); not read"
    return None


def _log_rejected(path: str, reason: str) -> None:
    log.warning("Not ingesting a file: %s", reason)


class _CandidateHandler(FileSystemEventHandler):
    def __init__(self, add: Callable[[str], None], drop: Callable[[str], None]) -> None:
        self._add, self._drop = add, drop

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._add(str(event.src_path))

    def on_modified(self, event: FileSystemEvent) -> None:
        self.on_created(event)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._drop(str(event.src_path))
            self._add(str(event.dest_path))

    def on_deleted(self, event: FileSystemEvent) -> None:
        self._drop(str(event.src_path))


class WatchFolder:
    """Watch a folder and hand each ready file version to ``on_ready`` exactly once per poll cycle.

    Args:
        root: the watch folder.
        on_ready: called (on the polling thread) with each :class:`FileVersion` that is ready;
            it decides, with the ledger, whether to dispatch.
        skip: returns True for a file version already dispatched/finished (checked before any
            tail read, so a restart does not re-read every old file).
        settle_seconds / tail_check_bytes / poll_interval_seconds: see settings.
        use_polling: PollingObserver (default, works on FUSE) or the native observer.
        recursive: watch sub-folders too.
        since_epoch: on the startup scan, ignore files modified before this time.
        ignore_patterns: fnmatch patterns of junk names.
        clock: monotonic clock (injected in tests).
        on_rejected: called once per path with ``(path, reason)`` for a file that is never
            ingested: a name that is not UTF-8, a symlink, a FIFO, socket or device. The
            reason shows the name with escapes, so it prints anywhere. Default: a warning on
            the ``postflow.sensor`` logger.
        allow_inner_symlinks: ingest a symlink whose target is a regular file inside the
            watch folder (other symlinks are still refused: never a file from outside).
        completeness: asked once a file has settled; returns why its container is not
            finished (a .mov without ``moov``, an MXF without footer) or None. Default:
            :func:`tasks.sensor.completeness.container_incomplete`; None turns the check off.

    Raises:
        ConfigurationError: the folder does not exist or is not a directory (from :meth:`start`).
    """

    def __init__(
        self,
        root: Path,
        on_ready: Callable[[FileVersion], None],
        *,
        skip: Callable[[FileVersion], bool] = lambda _v: False,
        settle_seconds: float = 30.0,
        tail_check_bytes: int = 65536,
        poll_interval_seconds: float = 5.0,
        use_polling: bool = True,
        recursive: bool = True,
        since_epoch: float | None = None,
        ignore_patterns: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        on_rejected: Callable[[str, str], None] | None = None,
        allow_inner_symlinks: bool = False,
        completeness: Callable[[str], str | None] | None = container_incomplete,
    ) -> None:
        self.root = Path(root)
        self.on_ready = on_ready
        self.skip = skip
        self.poll_interval_seconds = poll_interval_seconds
        self.use_polling = use_polling
        self.recursive = recursive
        self.since_epoch = since_epoch
        self.ignore_patterns = ignore_patterns
        self.tracker = ReadinessTracker(settle_seconds, tail_check_bytes, clock, completeness)
        self._pending: set[str] = set()
        self._rejected: set[str] = set()  # reported once each, until deleted
        self._incomplete_reported: dict[str, str | None] = {}  # path -> last reason logged
        self.on_rejected = on_rejected or _log_rejected
        self.allow_inner_symlinks = allow_inner_symlinks
        self._lock = threading.Lock()
        self._observer: BaseObserver | None = None

    @property
    def pending_count(self) -> int:
        """Files seen but not yet ready."""
        with self._lock:
            return len(self._pending)

    def _add(self, path: str) -> None:
        if ignore_reason(normalise_name(path), None, self.ignore_patterns) is not None:
            return
        if self._refused(path):
            return
        with self._lock:
            self._pending.add(path)

    def _drop(self, path: str) -> None:
        with self._lock:
            self._pending.discard(path)
            self._rejected.discard(path)
            self._incomplete_reported.pop(path, None)
        self.tracker.forget(path)

    def _refused(self, path: str) -> bool:
        """True (and reported once) when ``path`` must never be ingested."""
        reason = refusal_reason(path, self.root, self.allow_inner_symlinks)
        if reason is None:
            return False
        with self._lock:
            self._pending.discard(path)
            first = path not in self._rejected
            self._rejected.add(path)
        self.tracker.forget(path)
        if first:
            self.on_rejected(path, reason)
        return True

    def start(self) -> None:
        """Start the observer and queue the startup scan's files."""
        if not self.root.is_dir():
            raise ConfigurationError(
                f"watch folder {self.root} does not exist or is not a folder "
                "(set POSTFLOW_WATCH_PATH or pass --watch-path)"
            )
        observer: BaseObserver
        if self.use_polling:
            observer = PollingObserver(timeout=self.poll_interval_seconds)
        else:
            observer = Observer()
        observer.schedule(
            _CandidateHandler(self._add, self._drop), str(self.root), recursive=self.recursive
        )
        observer.start()
        self._observer = observer
        self.scan()

    def scan(self) -> int:
        """Queue every existing file (modified at or after ``since_epoch``); returns the count."""
        count = 0
        for directory, subdirs, files in os.walk(self.root):
            if not self.recursive:
                subdirs.clear()
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            for name in files:
                path = os.path.join(directory, name)
                try:
                    if self.since_epoch is not None and os.stat(path).st_mtime < self.since_epoch:
                        continue
                except FileNotFoundError:
                    continue
                self._add(path)
                count += 1
        log.info("Startup scan of %s: %d candidate files", self.root, count)
        return count

    def poll_once(self) -> list[FileVersion]:
        """Re-check every candidate; call ``on_ready`` for the ready ones and return them."""
        with self._lock:
            candidates = sorted(self._pending)
        ready: list[FileVersion] = []
        for path in candidates:
            if self._refused(path):  # replaced by a symlink or a FIFO since it was seen
                continue
            try:
                info = os.stat(path)
                if self.skip(FileVersion(path, info.st_size, info.st_mtime_ns)):
                    self._drop(path)
                    continue
                verdict, version = self.tracker.check(path)
            except FileNotFoundError:
                self._drop(path)
                continue
            except OSError as exc:  # unreadable for now (LucidLink hiccup): try next poll
                log.warning("Cannot read %s yet: %s", path, exc)
                continue
            if verdict is Verdict.INCOMPLETE:
                self._report_incomplete(path)
            if verdict is Verdict.READY and version is not None:
                with self._lock:
                    self._pending.discard(path)
                    self._incomplete_reported.pop(path, None)
                ready.append(version)
                self.on_ready(version)
        return ready

    def _report_incomplete(self, path: str) -> None:
        """Log once per file (until it changes or goes) why its settled container waits."""
        reason = self.tracker.incomplete_reason(path)
        with self._lock:
            first = self._incomplete_reported.get(path) != reason
            self._incomplete_reported[path] = reason
        if first:
            log.info("Not ready yet, %s: %s", shown_name(path), reason)

    def stop(self) -> None:
        """Stop the observer thread (idempotent)."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None

    def run(self, stop: threading.Event, tick_seconds: float | None = None) -> None:
        """Poll until ``stop`` is set. ``tick_seconds`` defaults to ``poll_interval_seconds``."""
        interval = tick_seconds or self.poll_interval_seconds
        while not stop.is_set():
            self.poll_once()
            stop.wait(interval)

    def __enter__(self) -> WatchFolder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
