"""Progress of a multipart upload: the byte counter behind the log lines, the CLI bar and the
Prefect progress artifact (:class:`ProgressLog`), and the wait for Frame.io to report the
file complete (:func:`wait_until_complete`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from blocks.frameio_project import FrameioProject
from blocks.part_uploader import ProgressCallback
from core.errors import UploadFailed
from tasks.platform.cancellation import cancel_check
from tasks.upload.logs import upload_logger
from tasks.upload.progress_artifact import progress_artifact_for

__all__ = ["ProgressLog", "wait_until_complete"]


def wait_until_complete(
    project: FrameioProject,
    file_id: str,
    timeout_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``files.show_file_upload_status`` until ``upload_complete``.

    Args:
        project: the Frame.io project.
        file_id: the uploaded file.
        timeout_seconds: give up after this many seconds.
        sleep: injected for tests; the poll interval grows from 0.1 s to 2 s.

    Raises:
        UploadFailed: Frame.io reports ``upload_failed``, or ``timeout_seconds`` passed.
        IngestCancelled: the flow run was cancelled meanwhile (:mod:`tasks.platform.cancellation`).
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.1
    check_cancelled = cancel_check()
    while True:
        check_cancelled()
        status = project.upload_status(file_id)
        if status.upload_failed:
            raise UploadFailed(f"Frame.io reports upload_failed for file {file_id}")
        if status.upload_complete:
            return
        if time.monotonic() > deadline:
            raise UploadFailed(
                f"file {file_id} not complete after {timeout_seconds:.0f} s "
                "(raise POSTFLOW_UPLOAD_STATUS_TIMEOUT_SECONDS if Frame.io is slow)"
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)


class ProgressLog:
    """Thread-safe byte counter that logs every ``every_bytes`` and forwards deltas.

    Built in the ingest's own thread, it also carries that flow run's cancel check
    (:func:`tasks.platform.cancellation.cancel_check`): each call raises
    :class:`~core.errors.IngestCancelled` once the run is cancelled, which stops every part.

    Args:
        name: the file name, for the log line.
        total: the file's size in bytes.
        every_bytes: log a line each time this many more bytes are sent.
        forward: also called with each delta (bytes; negative when a part restarts).

    A file of at least ``every_bytes`` also keeps a Prefect progress artifact on its run up
    to date (:mod:`tasks.upload.progress_artifact`), as the CLI bar does.
    """

    def __init__(
        self, name: str, total: int, every_bytes: int, forward: ProgressCallback | None
    ) -> None:
        self.log = upload_logger()  # here, in the task's thread (see upload_logger)
        self.check_cancelled = cancel_check()  # here too: it reads the run's context
        self.name, self.total, self.every = name, total, every_bytes
        self.done = 0
        self.next_mark = every_bytes
        self.forward = forward
        # the run's progress artifact (Prefect UI), for a file of at least ``every_bytes``
        self.artifact = progress_artifact_for(name, total, every_bytes)
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def __call__(self, delta: int) -> None:
        """Count ``delta`` bytes; log ``"<name>: X/Y MB (P%) at R MB/s"`` past each mark.

        Raises:
            IngestCancelled: the flow run was cancelled (checked before a block goes out).
        """
        if delta > 0:
            self.check_cancelled()
        with self.lock:
            self.done += delta
            crossed = self.done >= self.next_mark
            if crossed:
                self.next_mark = (self.done // self.every + 1) * self.every
            done = self.done
        if self.forward is not None:
            self.forward(delta)
        if self.artifact is not None:
            self.artifact(delta)
        if crossed:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.log.info(
                "%s: %d/%d MB (%.0f%%) at %.1f MB/s",
                self.name,
                done // 10**6,
                self.total // 10**6,
                100 * done / max(self.total, 1),
                done / 1e6 / elapsed,
            )
