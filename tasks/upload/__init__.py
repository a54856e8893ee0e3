"""Upload one ready file into its shot folder: the one upload path of the pipeline.

:func:`run_upload` takes an :class:`UploadJob` through these steps, under a per-file lock:

1. idempotency: a completed file of the same name and size in the shot folder (or its version
   stack) means nothing is sent (a retry, a rerun or a restarted sensor never duplicates a
   file); a same-name placeholder that never completed is deleted (:mod:`.stack`);
2. the strategy: remote upload when the tunnel is healthy and the file is under Frame.io's
   cap, else multipart (:mod:`.strategy`);
3. the transfer: Frame.io pulls the file through the tunnel (:mod:`.remote`) or we PUT its
   parts (:mod:`.multipart`), with the source's sha256 computed alongside; a failed remote
   upload is deleted and the same call sends the file by multipart;
4. the source is checked unchanged, then Frame.io's upload status must say complete;
5. the file joins the shot's version stack (:mod:`.stack`) and an :class:`UploadResult` says
   what happened and why.

:func:`upload_file` is the Prefect task around it. Frame.io's upload guide:
https://next.developer.frame.io/platform/docs/guides/uploading-to-frame-io/how-local-remote-uploads-work
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.frameio_project import Asset, FrameioProject
from blocks.part_uploader import ProgressCallback
from blocks.remote_endpoint import RemoteEndpoint
from config.settings import PostflowSettings
from core.errors import FrameioAuthError, FrameioNotFound, PostflowError, SourceFileError
from tasks.limits import upload_slot
from tasks.naming import Nomenclature, ShotName
from tasks.upload.logs import upload_logger
from tasks.upload.multipart import MultipartTransfer
from tasks.upload.remote import RemoteTransfer
from tasks.upload.source import assert_unchanged, file_sha256, source_stat
from tasks.upload.stack import LockFactory, add_to_version_stack, find_uploaded, folder_lock
from tasks.upload.strategy import choose_strategy
from tasks.upload.transfer import Sent, Transfer

__all__ = [
    "UploadJob",
    "UploadResult",
    "add_to_version_stack",
    "choose_strategy",
    "find_uploaded",
    "run_upload",
    "upload_file",
    "upload_logger",
]

# Remote failures after which multipart would fail the same way: raised, not fallen back from.
_NO_FALLBACK = (SourceFileError, FrameioNotFound, FrameioAuthError)


@dataclass(frozen=True)
class UploadJob:
    """One file to upload, and everything that decides how.

    Attributes:
        path: absolute path of the ready source file.
        shot: its parsed name (``shot.file`` is the name in Frame.io).
        folder_id: the shot folder's Frame.io id.
        nomenclature: rules, to find the shot's other versions for the version stack.
        settings: upload, remote-upload and lock settings.
        checksum: compute the source's sha256 while sending (False: ``sha256`` is "").
    """

    path: str
    shot: ShotName
    folder_id: str
    nomenclature: Nomenclature
    settings: PostflowSettings
    checksum: bool = True


@dataclass(frozen=True)
class UploadResult:
    """What an upload did.

    Attributes:
        file_id: Frame.io file id.
        name: file name in Frame.io.
        size_bytes: bytes of the source file.
        seconds: wall time of the byte transfer and completion check (0 when skipped).
        sha256: hex digest of the source ("" when skipped or disabled).
        strategy: ``"multipart"``, ``"remote"``, or ``"skipped"`` when the file was there.
        view_url: Frame.io web-app link to the file.
        parts: number of part PUTs (0 when skipped or remote).
        retried_parts: part PUTs that had to be retried.
        version_stack_id: the stack the file sits in, if any.
        rate_limited: 429 answers absorbed from the API during this upload.
        strategy_reason: why this strategy was used (e.g. "tunnel unavailable: ...").
    """

    file_id: str
    name: str
    size_bytes: int
    seconds: float
    sha256: str
    strategy: str
    view_url: str
    parts: int = 0
    retried_parts: int = 0
    version_stack_id: str | None = None
    rate_limited: int = 0
    strategy_reason: str = ""

    @property
    def megabytes_per_second(self) -> float:
        """Throughput in MB/s (10^6 bytes), 0 when nothing was sent."""
        return self.size_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-able dict including ``megabytes_per_second``."""
        return {**asdict(self), "megabytes_per_second": round(self.megabytes_per_second, 2)}


def _stacked(
    project: FrameioProject, job: UploadJob, asset: Asset, lock: LockFactory
) -> str | None:
    return add_to_version_stack(project, job.folder_id, asset, job.shot, job.nomenclature, lock)


def _already_there(
    project: FrameioProject, job: UploadJob, size_bytes: int, lock: LockFactory
) -> UploadResult | None:
    """The "skipped" result when the file is already in the shot folder (stacking it if it is
    loose); None when it must be sent. Called holding the file's lock."""
    existing, stack_id = find_uploaded(project, job.folder_id, job.shot.file, size_bytes)
    if existing is None:
        return None
    upload_logger().info(
        "%s already in Frame.io (%s); not uploading again", job.shot.file, existing.id
    )
    if stack_id is None:
        stack_id = _stacked(project, job, existing, lock)
    return UploadResult(
        existing.id,
        existing.name,
        size_bytes,
        0.0,
        "",
        "skipped",
        existing.view_url,
        version_stack_id=stack_id,
        strategy_reason="already in Frame.io",
    )


def _send(job: UploadJob, transfer: Transfer, before: os.stat_result) -> tuple[Sent, str, float]:
    """Run ``transfer`` with the sha256 read alongside: ``(sent, sha256, seconds)``."""
    cancel = threading.Event()  # a failed transfer stops the sha256 read
    with ThreadPoolExecutor(1, thread_name_prefix="sha256") as pool:
        digest = pool.submit(file_sha256, job.path, job.checksum, cancel)
        try:
            with transfer.send(job.folder_id, job.shot.file, job.path, before.st_size) as sent:
                assert_unchanged(job.path, before)
                transfer.wait_complete(sent.file_id)
                sha = digest.result()
        except BaseException:
            cancel.set()
            raise
    return sent, sha, time.monotonic() - sent.started


def _attempt(
    project: FrameioProject,
    job: UploadJob,
    before: os.stat_result,
    transfer: Transfer,
    reason: str,
    lock: LockFactory,
) -> UploadResult:
    """Idempotency check, one transfer, version stack, result."""
    rate_before = project.rate_limited_count
    skipped = _already_there(project, job, before.st_size, lock)
    if skipped is not None:
        return skipped
    sent, sha, seconds = _send(job, transfer, before)
    asset = project.show_file(sent.file_id)
    return UploadResult(
        asset.id,
        asset.name,
        before.st_size,
        seconds,
        sha,
        transfer.strategy,
        asset.view_url,
        sent.parts,
        sent.retried_parts,
        _stacked(project, job, asset, lock),
        project.rate_limited_count - rate_before,
        reason,
    )


def run_upload(
    project: FrameioProject,
    job: UploadJob,
    endpoint: RemoteEndpoint | None = None,
    progress: ProgressCallback | None = None,
) -> UploadResult:
    """Upload ``job.path`` into ``job.folder_id`` unless it is already there (see module doc).

    Args:
        project: the Frame.io project.
        job: the file, its shot, folder, rules and settings.
        endpoint: the Range server and tunnel for remote upload; None means multipart only.
        progress: multipart byte-progress callback (bytes per call).

    Returns:
        An :class:`UploadResult`; ``strategy`` is ``"remote"``, ``"multipart"`` or
        ``"skipped"`` and ``strategy_reason`` says why, e.g. ``"auto: tunnel healthy, 1.2 GB
        <= 50.0 GB cap"``, ``"fallback: remote upload failed: ..."``, ``"already in Frame.io"``.

    Raises:
        SourceFileError: the file is missing, or changed while it was sent.
        FrameioNotFound / FrameioAuthError: the folder is gone / credentials refused (a
            multipart attempt would fail the same way, so a remote failure of this kind is
            raised at once).
        PartUploadError / UploadFailed / FrameioError: the multipart upload failed.
    """
    before = source_stat(job.path)
    lock = folder_lock(job.settings)  # the same locks for every strategy: several workers agree
    with lock(f"file:{job.folder_id}:{job.shot.file}"):
        tunnel = endpoint.tunnel if endpoint is not None else None
        strategy, reason = choose_strategy(job.settings, before.st_size, tunnel)
        if strategy == "remote" and endpoint is not None:
            remote = RemoteTransfer(project, job.settings, endpoint)
            try:
                return _attempt(project, job, before, remote, reason, lock)
            except _NO_FALLBACK:
                raise
            except PostflowError as exc:
                upload_logger().warning(
                    "%s: remote upload failed (%s); uploading by multipart", job.shot.file, exc
                )
                reason = f"fallback: remote upload failed: {getattr(exc, 'reason', exc)}"
        multipart = MultipartTransfer(project, job.settings, progress)
        return _attempt(project, job, before, multipart, reason, lock)


@task(name="upload-file", cache_policy=NO_CACHE)
def upload_file(
    project: FrameioProject, job: UploadJob, endpoint: RemoteEndpoint | None = None
) -> UploadResult:
    """Prefect task around :func:`run_upload`: the ingest flow's upload step.

    The flow adds transient retries (429, 5xx, network); a retry chooses the strategy again.
    Holds a ``postflow-uploads`` slot (:func:`tasks.limits.upload_slot`) when Prefect limits
    are on, whichever strategy is used.

    Args:
        project: the Frame.io project.
        job: the file to upload.
        endpoint: the Range server and tunnel, or None (multipart only).

    Returns:
        The :class:`UploadResult`.

    Raises:
        PostflowError: see :func:`run_upload`.
    """
    with upload_slot(job.settings.use_prefect_limits):
        return run_upload(project, job, endpoint)
