"""Upload one ready file into its shot folder: local (multipart) upload, idempotent, stacked.

Steps (Frame.io v4 "How To: Upload"; notes/frameio-v4.md §3-§4):

1. look in the shot folder (and its version stacks) for a file of the same name and size that
   finished uploading: if there is one, upload nothing (a retry, a rerun or a restarted sensor
   never duplicates a file); a same-name placeholder that never completed is deleted first;
2. ``files.create_local_upload`` through the SDK -> ``upload_urls[{size, url}]`` + ``media_type``;
3. our streaming part PUTs (:class:`blocks.part_uploader.PartUploader`), a log line every
   ``upload_progress_log_bytes``, sha256 computed by a sequential reader alongside;
4. check the source did not change meanwhile, then poll ``upload status`` until complete;
5. add the file to the shot's version stack, or create the stack from the loose versions.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.frameio_project import Asset, FrameioProject
from blocks.part_uploader import PartUploader, ProgressCallback, plan_parts
from config.settings import PostflowSettings
from core.errors import NamingError, SourceFileError, UploadFailed
from tasks.limits import upload_slot
from tasks.locks import held, lock_manager_for
from tasks.naming import Nomenclature, ShotName
from tasks.runtime import current_runtime


def _local_lock(key: str) -> AbstractContextManager[None]:
    return current_runtime().lock(key)  # type: ignore[return-value]


@dataclass(frozen=True)
class UploadResult:
    """What an upload did.

    Attributes:
        file_id: Frame.io file id.
        name: file name in Frame.io.
        size_bytes: bytes of the source file.
        seconds: wall time of the byte transfer and completion check (0 when skipped).
        sha256: hex digest of the source ("" when skipped or disabled).
        strategy: ``"multipart"``, or ``"skipped"`` when the file was already there.
        view_url: Frame.io web-app link to the file.
        parts: number of part PUTs (0 when skipped).
        retried_parts: part PUTs that had to be retried.
        version_stack_id: the stack the file sits in, if any.
        rate_limited: 429 answers absorbed from the API during this upload.
        strategy_reason: why this strategy was used (e.g. "tunnel not available").
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


def _same_name(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def find_uploaded(
    project: FrameioProject, folder_id: str, name: str, size_bytes: int
) -> tuple[Asset | None, str | None]:
    """Find a completed file ``name`` of ``size_bytes`` in the folder or its version stacks.

    Same-name placeholders that never received their bytes (status ``created``) are deleted,
    so the next upload starts clean.

    Returns:
        ``(asset, version_stack_id)``; ``(None, None)`` when not found.
    """
    children = project.list_children(folder_id)
    candidates: list[tuple[Asset, str | None]] = [(c, None) for c in children if c.type == "file"]
    for stack in (c for c in children if c.type == "version_stack"):
        candidates += [(v, stack.id) for v in project.list_versions(stack.id)]
    for asset, stack_id in candidates:
        if not _same_name(asset.name, name):
            continue
        if asset.status == "created":
            project.delete_file(asset.id)
        elif asset.file_size == size_bytes:
            return asset, stack_id
    return None, None


def _shot_key(nomenclature: Nomenclature, name: str) -> tuple[str, str, int] | None:
    try:
        parsed = nomenclature.parse(name)
    except NamingError:
        return None
    return parsed.scene, parsed.shot, parsed.version


def add_to_version_stack(
    project: FrameioProject,
    folder_id: str,
    file: Asset,
    shot: ShotName,
    nomenclature: Nomenclature,
    lock: Callable[[str], AbstractContextManager[None]] | None = None,
) -> str | None:
    """Put ``file`` into the shot's version stack, creating the stack when other versions exist.

    A stack already in the folder receives the file (``files.move``; it becomes the head). Else
    the loose, completed versions of the same scene/shot are stacked oldest-first by version
    number (``version_stacks.create`` takes 2-10 files). Serialised per folder by ``lock(key)``
    (a Prefect lock manager's :func:`tasks.locks.held`, so several workers agree), in-process
    when None.

    Returns:
        The version stack id, or None when this is the shot's only version.
    """
    with (lock or _local_lock)(f"stack:{folder_id}"):
        children = project.list_children(folder_id)
        stacks = sorted(
            (c for c in children if c.type == "version_stack"), key=lambda a: a.created_at
        )
        loose = {c.id for c in children if c.type == "file"}
        if stacks:
            if file.id in loose:  # else a concurrent ingest already stacked it
                project.move_file(file.id, stacks[0].id)
            return stacks[0].id
        versions: list[tuple[int, Asset]] = []
        for child in children:
            if child.type != "file" or child.status == "created":
                continue
            key = _shot_key(nomenclature, child.name)
            if key is not None and key[:2] == (shot.scene, shot.shot):
                versions.append((key[2], child))
        if len(versions) < 2:
            return None
        ordered = [a.id for _, a in sorted(versions, key=lambda v: (v[0], v[1].created_at))]
        return project.create_version_stack(folder_id, ordered[-10:]).id


def file_sha256(path: str, enabled: bool = True) -> str:
    """Hex sha256 of the file at ``path`` (read sequentially), or "" when not ``enabled``."""
    if not enabled:
        return ""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def wait_until_complete(
    project: FrameioProject, file_id: str, timeout_seconds: float, sleep: Callable = time.sleep
) -> None:
    """Poll ``files.show_file_upload_status`` until ``upload_complete``.

    Raises:
        UploadFailed: Frame.io reports ``upload_failed``, or ``timeout_seconds`` passed.
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.1
    while True:
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


class _ProgressLog:
    """Thread-safe byte counter that logs every ``every_bytes`` and forwards deltas."""

    def __init__(self, name: str, total: int, every_bytes: int, forward: ProgressCallback | None):
        # Taken here, in the task's thread: the part threads have no Prefect run context, and
        # a logger looked up there falls back to one whose INFO lines Prefect drops.
        self.log = _logger()
        self.name, self.total, self.every = name, total, every_bytes
        self.done = 0
        self.next_mark = every_bytes
        self.forward = forward
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def __call__(self, delta: int) -> None:
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


def _logger():  # noqa: ANN202 - a Prefect run logger when in a run, else the module logger
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - MissingContextError outside a flow/task run
        import logging

        return logging.getLogger("postflow.upload")


def source_stat(path: str) -> os.stat_result:
    """``os.stat`` of a source file about to be uploaded.

    Raises:
        SourceFileError: the file is gone (moved or deleted since the sensor saw it).
    """
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        raise SourceFileError(path, "file not found (moved or deleted before upload)") from exc


def folder_lock(settings: PostflowSettings) -> Callable[[str], AbstractContextManager[None]]:
    """``lock(key)`` context managers on the configured lock manager (:mod:`tasks.locks`), so
    every thread, process or worker uploading into a shot folder agrees."""
    manager = lock_manager_for(settings)
    return lambda key: held(manager, key)


def already_uploaded(
    project: FrameioProject,
    folder_id: str,
    shot: ShotName,
    size_bytes: int,
    nomenclature: Nomenclature,
    lock: Callable[[str], AbstractContextManager[None]],
) -> UploadResult | None:
    """The "skipped" result when a completed same-name, same-size file is already in the shot
    folder (or its version stack), stacking it if it is loose; None when it must be uploaded.
    Call it holding ``lock(f"file:{folder_id}:{shot.file}")``.
    """
    existing, stack_id = find_uploaded(project, folder_id, shot.file, size_bytes)
    if existing is None:
        return None
    _logger().info("%s already in Frame.io (%s); not uploading again", shot.file, existing.id)
    if stack_id is None:
        stack_id = add_to_version_stack(project, folder_id, existing, shot, nomenclature, lock)
    return UploadResult(
        existing.id,
        existing.name,
        size_bytes,
        0.0,
        "",
        "skipped",
        existing.view_url,
        version_stack_id=stack_id,
    )


def upload_file_to_folder(
    project: FrameioProject,
    folder_id: str,
    path: str,
    shot: ShotName,
    nomenclature: Nomenclature,
    settings: PostflowSettings,
    progress: ProgressCallback | None = None,
    checksum: bool = True,
) -> UploadResult:
    """Upload ``path`` into folder ``folder_id`` unless it is already there (see module doc).

    Raises:
        SourceFileError: the file is missing, or changed while uploading.
        PartUploadError / UploadFailed / FrameioError: the transfer failed.
    """
    log = _logger()
    before = source_stat(path)
    size = before.st_size
    lock = folder_lock(settings)
    with lock(f"file:{folder_id}:{shot.file}"):
        rate_before = project.rate_limited_count
        skipped = already_uploaded(project, folder_id, shot, size, nomenclature, lock)
        if skipped is not None:
            return skipped
        created = project.create_local_upload(folder_id, shot.file, size)
        parts = plan_parts(created.upload_urls or [], size)
        content_type = created.media_type or "application/octet-stream"
        every = settings.upload_progress_log_bytes
        uploader = PartUploader(
            concurrency=settings.upload_part_concurrency,
            block_bytes=settings.upload_block_bytes,
            retries=settings.upload_part_retries,
            timeout_seconds=settings.frameio_timeout_seconds,
            max_retry_after_seconds=settings.max_retry_after_seconds,
            progress=_ProgressLog(shot.file, size, every, progress),
        )
        log.info("%s: %d bytes in %d parts -> folder %s", shot.file, size, len(parts), folder_id)
        started = time.monotonic()
        with ThreadPoolExecutor(1, thread_name_prefix="sha256") as pool:
            digest: Future[str] = pool.submit(file_sha256, path, checksum)
            uploader.upload(path, parts, content_type)
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (size, before.st_mtime_ns):
                project.delete_file(created.id)
                raise SourceFileError(
                    path, "changed while uploading; it will be sent when it settles"
                )
            wait_until_complete(project, created.id, settings.upload_status_timeout_seconds)
            sha = digest.result()
        seconds = time.monotonic() - started
        asset = project.show_file(created.id)
        stack_id = add_to_version_stack(project, folder_id, asset, shot, nomenclature, lock)
        return UploadResult(
            asset.id,
            asset.name,
            size,
            seconds,
            sha,
            "multipart",
            asset.view_url,
            len(parts),
            uploader.retried_parts,
            stack_id,
            project.rate_limited_count - rate_before,
        )


@task(name="upload-file", cache_policy=NO_CACHE)
def upload_file(
    project: FrameioProject,
    folder_id: str,
    path: str,
    shot: ShotName,
    nomenclature: Nomenclature,
    settings: PostflowSettings,
) -> UploadResult:
    """Prefect task around :func:`upload_file_to_folder` (the flow adds transient retries);
    holds a ``postflow-uploads`` slot when Prefect limits are on."""
    with upload_slot(settings.use_prefect_limits):
        return upload_file_to_folder(project, folder_id, path, shot, nomenclature, settings)
