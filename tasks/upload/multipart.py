"""Multipart (local) upload: we PUT the file's parts to the URLs Frame.io hands out.

Frame.io "How to: Upload" (https://developer.adobe.com/frameio/guides/Authorization%20to%20File%20Upload):
``files.create_local_upload`` -> ``upload_urls[{size, url}]`` + ``media_type``; our streaming
part PUTs (:class:`blocks.part_uploader.PartUploader`) with a log line every
``upload_progress_log_bytes``; then ``files.show_file_upload_status`` until complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from blocks.frameio_project import Asset, FrameioProject
from blocks.part_uploader import PartUploader, ProgressCallback, plan_parts
from config.settings import PostflowSettings
from core.errors import IngestCancelled, SourceFileError, UploadFailed
from tasks.cancellation import cancel_check
from tasks.upload.logs import upload_logger
from tasks.upload.transfer import Sent

__all__ = ["MultipartTransfer", "ProgressLog", "wait_until_complete"]


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
        IngestCancelled: the flow run was cancelled meanwhile (:mod:`tasks.cancellation`).
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
    (:func:`tasks.cancellation.cancel_check`): each call raises
    :class:`~core.errors.IngestCancelled` once the run is cancelled, which stops every part.

    Args:
        name: the file name, for the log line.
        total: the file's size in bytes.
        every_bytes: log a line each time this many more bytes are sent.
        forward: also called with each delta (bytes; negative when a part restarts).
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


class MultipartTransfer:
    """Send a file by multipart upload (a :class:`tasks.upload.transfer.Transfer`).

    Args:
        project: the Frame.io project.
        settings: ``upload_part_concurrency``, ``upload_block_bytes``, ``upload_part_retries``,
            ``frameio_timeout_seconds``, ``max_retry_after_seconds``,
            ``upload_progress_log_bytes`` and ``upload_status_timeout_seconds`` are read.
        progress: called with byte deltas as parts are sent.
    """

    strategy = "multipart"

    def __init__(
        self,
        project: FrameioProject,
        settings: PostflowSettings,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.project, self.settings, self.progress = project, settings, progress

    def _uploader(self, name: str, size_bytes: int) -> PartUploader:
        settings = self.settings
        log = ProgressLog(name, size_bytes, settings.upload_progress_log_bytes, self.progress)
        return PartUploader(
            concurrency=settings.upload_part_concurrency,
            block_bytes=settings.upload_block_bytes,
            progress=log,
            retries=settings.upload_part_retries,
            timeout_seconds=settings.frameio_timeout_seconds,
            max_retry_after_seconds=settings.max_retry_after_seconds,
        )

    @contextmanager
    def send(self, folder_id: str, name: str, path: str, size_bytes: int) -> Iterator[Sent]:
        """Create the placeholder and PUT every part; yields what was sent.

        A :class:`SourceFileError` raised inside the block (the source changed) deletes the
        file, and so does a cancelled run (:class:`IngestCancelled`): nothing partial stays in
        Frame.io. Other failures leave the placeholder, which the next attempt's
        :func:`tasks.upload.identity.same_name_files` deletes.

        Raises:
            FrameioError: creating the placeholder failed.
            UploadError: the upload URLs do not cover the file.
            PartUploadError: a part failed permanently or ran out of retries.
            SourceFileError: the file shrank under the planned parts.
            IngestCancelled: the flow run was cancelled during the PUTs.
        """
        created = self.project.create_local_upload(folder_id, name, size_bytes)
        parts = plan_parts(created.upload_urls or [], size_bytes)
        content_type = created.media_type or "application/octet-stream"
        uploader = self._uploader(name, size_bytes)
        upload_logger().info(
            "%s: %d bytes in %d parts -> folder %s", name, size_bytes, len(parts), folder_id
        )
        started = time.monotonic()
        try:
            uploader.upload(path, parts, content_type)
        except IngestCancelled:
            upload_logger().warning("%s: cancelled; deleting its partial upload", name)
            self.project.delete_file(created.id)
            raise
        try:
            yield Sent(
                created.id, started, len(parts), uploader.retried_parts, Asset.from_sdk(created)
            )
        except SourceFileError:
            self.project.delete_file(created.id)
            raise

    def wait_complete(self, file_id: str) -> None:
        """Poll upload status (:func:`wait_until_complete`).

        Raises:
            UploadFailed: ``upload_failed``, or not complete in ``upload_status_timeout_seconds``.
        """
        wait_until_complete(self.project, file_id, self.settings.upload_status_timeout_seconds)
