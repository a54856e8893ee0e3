"""Multipart (local) upload: we PUT the file's parts to the URLs Frame.io hands out.

Frame.io "How to: Upload" (https://developer.adobe.com/frameio/guides/Authorization%20to%20File%20Upload):
``files.create_local_upload`` -> ``upload_urls[{size, url}]`` + ``media_type``; our streaming
part PUTs (:class:`blocks.part_uploader.PartUploader`) with a log line every
``upload_progress_log_bytes``; then ``files.show_file_upload_status`` until complete. Each
upload keeps a checkpoint (:mod:`tasks.upload.checkpoint`) to resume from.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from blocks.frameio_project import FrameioProject
from blocks.part_uploader import PartUploader, ProgressCallback, plan_parts
from blocks.stream_digest import OrderedDigest
from config.settings import PostflowSettings
from core.errors import (
    DeliveryMismatch,
    FrameioNotFound,
    IngestCancelled,
    PartUploadError,
    PostflowError,
    is_transient,
)
from tasks.upload.checkpoint import Checkpoint, Checkpoints, decide
from tasks.upload.logs import upload_logger
from tasks.upload.progress import ProgressLog, wait_until_complete
from tasks.upload.transfer import Sent

__all__ = ["MultipartTransfer", "ProgressLog", "wait_until_complete"]  # the last two: .progress


def _pread(path: str, offset: int, length: int) -> bytes:
    """``length`` bytes of ``path`` from ``offset`` (fewer at its end)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


class MultipartTransfer:
    """Send a file by multipart upload (a :class:`tasks.upload.transfer.Transfer`), resuming
    from its checkpoint (:mod:`tasks.upload.checkpoint`) when one allows it.

    The whole file's XXH3-128 is hashed from the bytes the part PUTs read
    (:class:`blocks.stream_digest.OrderedDigest`): each byte is read once.

    Args:
        project: the Frame.io project.
        settings: ``upload_part_concurrency``, ``upload_block_bytes``, ``upload_part_retries``,
            ``frameio_timeout_seconds``, ``max_retry_after_seconds``,
            ``upload_progress_log_bytes``, ``upload_hash_buffer_bytes`` and
            ``upload_status_timeout_seconds`` are read.
        checkpoints: where the upload's progress is kept.
        progress: called with byte deltas as parts are sent.
        checksum: hash the whole file (False: :attr:`Sent.fingerprint` is "").
    """

    strategy = "multipart"
    hashes_source = True

    def __init__(
        self,
        project: FrameioProject,
        settings: PostflowSettings,
        checkpoints: Checkpoints,
        progress: ProgressCallback | None = None,
        checksum: bool = True,
    ) -> None:
        self.project, self.settings, self.progress = project, settings, progress
        self.checkpoints, self.checksum = checkpoints, checksum

    def _uploader(self, name: str, size_bytes: int, done_bytes: int) -> PartUploader:
        settings = self.settings
        log = ProgressLog(name, size_bytes, settings.upload_progress_log_bytes, self.progress)
        if done_bytes:
            log(done_bytes)  # the bar and the log start where the stored parts end
        return PartUploader(
            concurrency=settings.upload_part_concurrency,
            block_bytes=settings.upload_block_bytes,
            progress=log,
            retries=settings.upload_part_retries,
            timeout_seconds=settings.frameio_timeout_seconds,
            max_retry_after_seconds=settings.max_retry_after_seconds,
        )

    def _checkpoint(
        self, folder_id: str, name: str, path: str, source: os.stat_result
    ) -> Checkpoint:
        """The checkpoint to continue: the stored one when :func:`decide` says so, else a new
        Frame.io file (the old one deleted) and its new checkpoint."""
        found = self.checkpoints.get(path)
        if found is not None:
            verdict, rule = decide(self.project, found, folder_id, source)
            if verdict in ("resume", "complete"):
                upload_logger().info(
                    "%s: resuming upload %s (%s; %d of %d bytes to send)",
                    name,
                    found.file_id,
                    rule,
                    source.st_size - found.done_bytes,
                    source.st_size,
                )
                if verdict == "complete":  # stored, but not every part was recorded
                    return replace(
                        found, done={p.number: found.done.get(p.number, "") for p in found.parts}
                    )
                return found
            upload_logger().warning(
                "%s: not resuming upload %s: %s; starting over", name, found.file_id, rule
            )
            self.discard(path, found.file_id, deleted=verdict == "gone")
        created = self.project.create_local_upload(folder_id, name, source.st_size)
        parts = plan_parts(created.upload_urls or [], source.st_size)
        media_type = created.media_type or "application/octet-stream"
        return self.checkpoints.start(path, source, created.id, folder_id, media_type, parts)

    def discard(self, path: str, file_id: str, *, deleted: bool = False) -> None:
        """Delete the unfinished Frame.io file ``file_id`` (unless ``deleted`` already) and
        forget its checkpoint. A file already gone counts as deleted.

        Raises:
            FrameioError: the delete failed (the checkpoint is kept, so a later start
                retries it).
        """
        if not deleted:
            with contextlib.suppress(FrameioNotFound):
                self.project.delete_file(file_id)
        self.checkpoints.drop(path, file_id)

    @contextmanager
    def send(self, folder_id: str, name: str, path: str, source: os.stat_result) -> Iterator[Sent]:
        """Create the file (or resume it) and PUT every part not stored yet; yields what was
        sent.

        Any failure after the file exists either deletes it (and its checkpoint) or keeps both
        for the resume path, never neither: a transient failure (network, 429, 5xx, an
        outage) or the process stopping (Ctrl-C, SIGTERM) keeps them; a cancel from Prefect,
        a changed or shrunk source, an expired URL, a permanent refusal, and any failure
        inside the block but a transient one, delete.
        On success the checkpoint is dropped when the block ends.

        Raises:
            FrameioError: creating the file failed.
            UploadError: the upload URLs do not cover the file.
            PartUploadError: a part failed permanently, ran out of retries, or its URL expired.
            SourceFileError: the file changed or shrank under the planned parts.
            IngestCancelled: the flow run was cancelled during the PUTs.
        """
        checkpoint = self._checkpoint(folder_id, name, path, source)
        file_id, parts = checkpoint.file_id, checkpoint.parts
        uploader = self._uploader(name, source.st_size, checkpoint.done_bytes)
        digest = self._digest(path, checkpoint)
        upload_logger().info(
            "%s: %d bytes in %d parts -> folder %s", name, source.st_size, len(parts), folder_id
        )
        started = time.monotonic()
        try:
            uploader.upload(
                path,
                parts,
                checkpoint.media_type,
                digest=digest,
                done=checkpoint.done,
                on_part_done=lambda number, hexdigest: self.checkpoints.part_done(
                    file_id, number, hexdigest
                ),
            )
        except BaseException as exc:
            if digest is not None:
                digest.close()
            self._after_failure(path, name, file_id, exc)
            raise
        sent = Sent(
            file_id,
            started,
            len(parts) - len(checkpoint.done),
            uploader.retried_parts,
            fingerprint=digest.hexdigest() if digest is not None else "",
            resumed_parts=len(checkpoint.done),
        )
        try:
            yield sent
        except BaseException as exc:
            self._after_failure(path, name, file_id, exc, inside=True)
            raise
        self.checkpoints.drop(path, file_id)

    def _digest(self, path: str, checkpoint: Checkpoint) -> OrderedDigest | None:
        """The whole file's digest, with room for what ``upload_part_concurrency`` parts read
        ahead of its frontier (each byte then read once) and one part more, up to
        ``upload_hash_buffer_bytes``: a part waits to start until its bytes fit
        (:meth:`OrderedDigest.wait_for_room`), and with room for the parts in flight alone a
        part that finished before the first one held its worker back about one run in four
        (measured: 0.1-0.25 s of waits per GiB on 2 busy cores, 32 MiB parts)."""
        if not self.checksum:
            return None
        largest = max((p.size for p in checkpoint.parts), default=0)
        settings = self.settings
        room = min(
            (settings.upload_part_concurrency + 1) * largest, settings.upload_hash_buffer_bytes
        )
        return OrderedDigest(
            checkpoint.size_bytes,
            room,
            lambda o, n: _pread(path, o, n),
            block_bytes=self.settings.upload_block_bytes,
        )

    def _after_failure(
        self, path: str, name: str, file_id: str, exc: BaseException, inside: bool = False
    ) -> None:
        """Delete the file or keep it for the resume path (see :meth:`send`)."""
        # The process is going down (Ctrl-C, SIGTERM, SystemExit): not a failure of the file.
        stopping = not isinstance(exc, Exception)
        keep = stopping or (is_transient(exc) and not isinstance(exc, DeliveryMismatch))
        if isinstance(exc, PartUploadError) and exc.expired:
            keep = False
        if keep:
            upload_logger().warning(
                "%s: upload %s interrupted (%s); its stored parts are kept to resume from",
                name,
                file_id,
                exc,
            )
            return
        if isinstance(exc, IngestCancelled):
            upload_logger().warning("%s: cancelled; deleting its partial upload %s", name, file_id)
        else:
            upload_logger().warning(
                "%s: deleting its partial upload %s (%s: %s)",
                name,
                file_id,
                type(exc).__name__,
                exc,
            )
        try:
            self.discard(path, file_id)
        except PostflowError as failure:
            upload_logger().warning("%s: could not delete %s: %s", name, file_id, failure)

    def wait_complete(self, file_id: str) -> None:
        """Poll upload status (:func:`wait_until_complete`).

        Raises:
            UploadFailed: ``upload_failed``, or not complete in ``upload_status_timeout_seconds``.
        """
        wait_until_complete(self.project, file_id, self.settings.upload_status_timeout_seconds)
