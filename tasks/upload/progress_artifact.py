"""Upload progress in the Prefect UI: a progress artifact on the run, kept up to date.

A file of at least ``upload_progress_log_bytes`` (``POSTFLOW_UPLOAD_PROGRESS_LOG_BYTES``) gets,
on the task run that uploads it, a Prefect progress artifact
(https://docs.prefect.io/v3/concepts/artifacts#progress-artifacts) that follows the multipart
upload as ``postflow ingest``'s progress bar does. :class:`UploadProgressArtifact` is a byte
progress callback (:data:`blocks.part_uploader.ProgressCallback`):

* it is built in the task's own thread and keeps a copy of that thread's context (the run, the
  settings, the run's API client); the part PUTs call it from worker threads that have none;
* the artifact is created at the first byte delta (a skipped or remote upload creates none),
  updated at most once per ``min_interval_seconds``, and always when the file reaches 100 %;
  :meth:`UploadProgressArtifact.finish` writes the last value;
* the value shown is the true one: it goes down when a part restarts (negative deltas), as the
  CLI bar does, clamped to 0-100 %;
* it never fails an upload: outside a run it does nothing; the first API error is logged once
  as a warning and the artifact is left as it was. Only one thread talks to the API at a time,
  never under the lock; the others count their bytes and go on.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import get_run_context
from prefect.exceptions import MissingContextError

from tasks.upload.logs import upload_logger

__all__ = ["UploadProgressArtifact", "artifact_key", "progress_artifact_for"]

_KEY_PREFIX = "upload-"
_MAX_KEY_CHARS = 120
_FINISH_WAIT_SECONDS = 10.0


def artifact_key(name: str) -> str:
    """The artifact key for file ``name``: ``upload-`` and the name in lowercase letters,
    digits and dashes (Prefect's rule for keys), e.g. ``A001_C003 v2.MOV`` ->
    ``upload-a001-c003-v2-mov``.

    Names that differ only in case or punctuation share a key: their artifacts are then
    versions of one key in the Artifacts page, each still on its own task run.

    Args:
        name: the file name.

    Returns:
        The key, at most 120 characters.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "file"
    return (_KEY_PREFIX + slug)[:_MAX_KEY_CHARS].rstrip("-")


def _describe(name: str, total_bytes: int) -> str:
    return f"Upload of `{name}` to Frame.io ({total_bytes / 1e9:.2f} GB, {total_bytes:,} bytes)"


class UploadProgressArtifact:
    """A thread-safe byte counter that keeps a Prefect progress artifact up to date.

    Build it in the task run's own thread (it reads the run context there); call it from any
    thread with byte deltas. Outside a flow or task run it does nothing.

    Args:
        name: the file name (the artifact's key and description).
        total_bytes: the file's size in bytes (100 % of the artifact).
        min_interval_seconds: update the artifact at most once per this many seconds
            (reaching 100 % and :meth:`finish` are always written).
        clock: monotonic seconds; injected by tests.

    Example:
        ```python
        artifact = UploadProgressArtifact("A001_C003_V002.mov", 4 * 10**9)
        artifact(256 * 2**20)   # from a part-PUT thread
        artifact.finish()       # in the task's thread, once the transfer is over
        ```
    """

    def __init__(
        self,
        name: str,
        total_bytes: int,
        min_interval_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.total_bytes = name, total_bytes
        self.key = artifact_key(name)
        self.min_interval_seconds = min_interval_seconds
        self._clock = clock
        self._log = upload_logger()  # here, in the task's thread (see upload_logger)
        self._context = contextvars.copy_context()
        self._enabled = _in_run()
        self._lock = threading.Condition()
        self._done_bytes = 0
        self._artifact_id: UUID | None = None
        self._shown: float | None = None  # the percent last written
        self._shown_at = 0.0
        self._sending = False  # one thread is calling the API
        self._finished = False

    @property
    def percent(self) -> float:
        """The bytes counted so far as a percent of ``total_bytes``, clamped to 0-100."""
        with self._lock:
            return self._percent()

    @property
    def enabled(self) -> bool:
        """False outside a run and after an API error: the artifact is no longer written."""
        return self._enabled

    def __call__(self, delta: int) -> None:
        """Count ``delta`` bytes (negative when a part restarts); write the artifact if due.

        The caller that finds an update due writes it (outside the lock); callers meanwhile
        only count. Never raises.
        """
        if not self._enabled:
            return
        with self._lock:
            if self._finished:
                return
            self._done_bytes += delta
            if self._sending or not self._due():
                return
            self._sending = True
        self._send_while_due()

    def finish(self) -> None:
        """Write the current value (100 % after a complete upload) if it is not shown yet, then
        stop: later deltas are ignored.

        An update in flight in another thread is waited for, up to ``_FINISH_WAIT_SECONDS``
        (10 s; then the value is left to that thread). Never raises.
        """
        if not self._enabled:
            return
        with self._lock:
            self._finished = True
            idle = self._lock.wait_for(lambda: not self._sending, _FINISH_WAIT_SECONDS)
            if not idle or not self._due():
                return
            self._sending = True
        self._send_while_due()

    def _percent(self) -> float:
        if self.total_bytes <= 0:
            return 100.0
        return max(0.0, min(100.0, 100.0 * self._done_bytes / self.total_bytes))

    def _due(self) -> bool:
        """Whether the artifact should be written now (call under the lock)."""
        if not self._enabled:
            return False
        value = self._percent()
        if self._shown is None:
            return not self._finished  # the first delta creates it; finish() alone does not
        if value == self._shown:
            return False
        if self._finished or value == 100.0:
            return True
        return self._clock() - self._shown_at >= self.min_interval_seconds

    def _send_while_due(self) -> None:
        """Write values until none is due; the caller set ``_sending``."""
        while True:
            with self._lock:
                value = self._percent()
                self._shown, self._shown_at = value, self._clock()
            ok = self._write(value)
            with self._lock:
                if not ok:
                    self._enabled = False
                if not ok or not self._due():
                    self._sending = False
                    self._lock.notify_all()
                    return

    def _write(self, percent: float) -> bool:
        """Create or update the artifact in the task's context; False after an error."""
        try:
            if self._artifact_id is None:
                self._artifact_id = self._call(
                    create_progress_artifact,
                    percent,
                    key=self.key,
                    description=_describe(self.name, self.total_bytes),
                )
            else:
                self._call(update_progress_artifact, self._artifact_id, percent)
        except Exception as exc:  # progress must never fail the upload
            self._log.warning(
                "%s: progress artifact %s not updated (%s: %s); the upload goes on without it",
                self.name,
                self.key,
                type(exc).__name__,
                exc,
            )
            return False
        return True

    def _call(self, api: Callable[..., Any], *args: Any, **kwargs: Any) -> UUID:
        """``api(*args, **kwargs)`` synchronously, in a copy of the task thread's context (the
        run's ids and settings; a copy, as one context cannot be entered by two threads)."""
        result = self._context.copy().run(api, *args, _sync=True, **kwargs)
        if not isinstance(result, UUID):
            raise TypeError(f"{getattr(api, '__name__', api)} returned {result!r}, not a UUID")
        return result


def _in_run() -> bool:
    try:
        get_run_context()
    except MissingContextError:
        return False
    return True


def progress_artifact_for(
    name: str, total_bytes: int, threshold_bytes: int
) -> UploadProgressArtifact | None:
    """An :class:`UploadProgressArtifact` for a file of at least ``threshold_bytes``, else None.

    Call it in the task's own thread, as the CLI bar is chosen (same threshold:
    ``settings.upload_progress_log_bytes``).

    Args:
        name: the file name.
        total_bytes: the file's size in bytes.
        threshold_bytes: the smallest size that gets an artifact, in bytes.

    Returns:
        The callback, or None for a smaller file.
    """
    if total_bytes < threshold_bytes:
        return None
    return UploadProgressArtifact(name, total_bytes)
