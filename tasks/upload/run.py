"""Upload one ready file into its shot folder: the one upload path of the pipeline.

:func:`run_upload` takes an :class:`UploadJob` through these steps, under a per-file lock:

1. identity (:mod:`.identity`): the file recorded for this source path, still in the shot
   folder (or its stack) with the source unchanged or only touched, means nothing is sent
   (a retry, a rerun or a restarted sensor never duplicates a file); the same name with other
   content is a *re-render*, sent as a new version; without a record, name and size decide;
   a same-name placeholder that never completed is deleted;
2. the strategy: remote upload when the tunnel is healthy and the file is under Frame.io's
   cap, else multipart (:mod:`.strategy`);
3. the transfer: Frame.io pulls the file through the tunnel (:mod:`.remote`) or we PUT its
   parts (:mod:`.multipart`), resuming from a checkpoint when one allows it
   (:mod:`.checkpoint`), with the source's XXH3-128 fingerprint hashed from the bytes the
   parts read (:mod:`blocks.stream_digest`; a remote upload reads the file for it alongside);
   a failed remote upload is deleted and the same call sends the file by multipart;
4. the source is checked unchanged, then Frame.io's upload status must say complete and
   the file's ``file_size`` must equal the bytes read (else it is deleted and sent once
   more: :class:`core.errors.DeliveryMismatch`), and ``(path, size, mtime_ns, fingerprint)
   -> file id`` is recorded in the state store;
5. the file joins the shot's version stack, highest version on top (:mod:`.stack`), and an
   :class:`UploadResult` says what happened and why.

:func:`upload_file` is the Prefect task around it. Frame.io's upload guide:
https://next.developer.frame.io/platform/docs/guides/uploading-to-frame-io/how-local-remote-uploads-work
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.frameio_project import Asset, FrameioProject
from blocks.part_uploader import ProgressCallback
from blocks.remote_endpoint import RemoteEndpoint
from blocks.store import open_store
from core.errors import (
    DeliveryMismatch,
    FrameioAuthError,
    FrameioNotFound,
    PartUploadError,
    PostflowError,
    SourceFileError,
)
from core.runtime import current_runtime
from tasks.platform.limits import upload_slot
from tasks.platform.locks import LockFactory, folder_lock
from tasks.structure.listings import ListingStore, listing_lock_key, read_listing
from tasks.upload.checkpoint import Checkpoints
from tasks.upload.identity import Identity, UploadRecord, UploadRecords, identify, same_name_files
from tasks.upload.job import UploadJob, UploadResult
from tasks.upload.logs import upload_logger
from tasks.upload.multipart import MultipartTransfer
from tasks.upload.remote import RemoteTransfer
from tasks.upload.sample_check import check_samples
from tasks.upload.source import assert_unchanged, file_fingerprint, refuse_empty, source_stat
from tasks.upload.stack import add_to_version_stack
from tasks.upload.strategy import choose_strategy
from tasks.upload.transfer import Sent, Transfer

__all__ = ["progress_for", "run_upload", "upload_file"]

# Remote failures after which multipart would fail the same way: raised, not fallen back from.
_NO_FALLBACK = (SourceFileError, FrameioNotFound, FrameioAuthError)


def _stacked(
    project: FrameioProject, job: UploadJob, asset: Asset, lock: LockFactory
) -> str | None:
    store = ListingStore(job.settings)
    shot, rules = job.shot, job.nomenclature
    return add_to_version_stack(project, job.folder_id, asset, shot, rules, lock, store)


def _identify(
    project: FrameioProject, job: UploadJob, before: os.stat_result, lock: LockFactory
) -> Identity:
    """What the shot folder holds of this source (:func:`.identity.identify`). The folder is
    listed under its stack lock, so no file is caught half-way through a re-stacking move, and
    the listing is shared for the stacking that follows (:mod:`tasks.structure.listings`); the
    fingerprint read, if any, runs after the lock is released."""
    store = ListingStore(job.settings)
    checkpoint = _checkpoints(job).get(job.path)
    resumable = frozenset() if checkpoint is None else frozenset({checkpoint.file_id})
    with lock(listing_lock_key(job.folder_id)):
        listing = read_listing(project, job.folder_id, store.get(job.folder_id), store.clock())
        found, listing = same_name_files(project, listing, job.shot.file, resumable)
        store.put(listing)
    record = _records(job).get(job.path)
    return identify(
        found,
        before,
        record,
        lambda: file_fingerprint(job.path, job.checksum),
        lambda size: file_fingerprint(job.path, job.checksum, limit_bytes=size),
    )


def _records(job: UploadJob) -> UploadRecords:
    return UploadRecords(open_store(job.settings), Path(job.settings.watch_path))


def _checkpoints(job: UploadJob) -> Checkpoints:
    return Checkpoints(open_store(job.settings), Path(job.settings.watch_path))


def _remember(job: UploadJob, before: os.stat_result, fingerprint: str, file_id: str) -> None:
    record = UploadRecord(before.st_size, before.st_mtime_ns, fingerprint, file_id)
    _records(job).put(job.path, record)


def _skipped(
    project: FrameioProject,
    job: UploadJob,
    before: os.stat_result,
    existing: Asset,
    identity: Identity,
    lock: LockFactory,
) -> UploadResult:
    """The "skipped" result for a source already in Frame.io (``existing``); the stack is put
    in order, so a rerun also repairs a stack another client disordered."""
    upload_logger().info(
        "%s already in Frame.io (%s); not uploading again", job.shot.file, existing.id
    )
    if identity.adopt:
        _remember(job, before, identity.fingerprint, existing.id)
    return UploadResult(
        file_id=existing.id,
        name=existing.name,
        size_bytes=before.st_size,
        seconds=0.0,
        fingerprint=identity.fingerprint,
        strategy="skipped",
        view_url=existing.view_url,
        version_stack_id=_stacked(project, job, existing, lock),
        strategy_reason="already in Frame.io",
        mtime_ns=before.st_mtime_ns,
    )


def _send(
    project: FrameioProject, job: UploadJob, transfer: Transfer, before: os.stat_result
) -> tuple[Sent, Asset, str, float]:
    """Run ``transfer`` and check what Frame.io stored: ``(sent, file, fingerprint, seconds)``.

    The fingerprint comes from the transfer's own read (multipart); a remote upload, which
    does not read the file here, has it read alongside.

    Raises:
        DeliveryMismatch: Frame.io's ``file_size`` is not the bytes read (the file is deleted
            by the transfer on the way out).
    """
    cancel = threading.Event()  # a failed transfer stops the fingerprint read
    with ThreadPoolExecutor(1, thread_name_prefix="fingerprint") as pool:
        digest = None
        if not transfer.hashes_source:
            digest = pool.submit(file_fingerprint, job.path, job.checksum, cancel)
        try:
            with transfer.send(job.folder_id, job.shot.file, job.path, before) as sent:
                assert_unchanged(job.path, before)
                transfer.wait_complete(sent.file_id)
                stored = project.show_file(sent.file_id)
                if stored.file_size != before.st_size:
                    raise DeliveryMismatch(sent.file_id, stored.file_size, before.st_size)
                settings = job.settings
                if settings.upload_verify_sample_ranges:
                    check_samples(
                        project,
                        sent.file_id,
                        job.path,
                        before.st_size,
                        settings.upload_verify_sample_ranges,
                        settings.upload_verify_sample_bytes,
                        settings.frameio_timeout_seconds,
                    )
                fingerprint = digest.result() if digest is not None else sent.fingerprint or ""
        except BaseException:
            cancel.set()
            raise
    return sent, stored, fingerprint, time.monotonic() - sent.started


def _attempt(
    project: FrameioProject,
    job: UploadJob,
    before: os.stat_result,
    transfer: Transfer,
    reason: str,
    lock: LockFactory,
) -> UploadResult:
    """Identity check, one transfer, record, version stack, result."""
    rate_before = project.rate_limited_count
    identity = _identify(project, job, before, lock)
    if identity.existing is not None:
        return _skipped(project, job, before, identity.existing[0], identity, lock)
    if identity.re_render:
        upload_logger().info(
            "%s is a re-render (other content than in Frame.io): new version", job.shot.file
        )
    sent, asset, fingerprint, seconds = _send(project, job, transfer, before)
    _remember(job, before, fingerprint, sent.file_id)
    stack_id = _stacked(project, job, asset, lock)
    if identity.superseded is not None:
        _delete_superseded(project, job, identity.superseded[0], lock)
    return UploadResult(
        file_id=asset.id,
        name=asset.name,
        size_bytes=before.st_size,
        seconds=seconds,
        fingerprint=fingerprint,
        strategy=transfer.strategy,
        view_url=asset.view_url,
        parts=sent.parts,
        retried_parts=sent.retried_parts,
        version_stack_id=stack_id,
        rate_limited=project.rate_limited_count - rate_before,
        strategy_reason=reason,
        re_render=identity.re_render,
        resumed_parts=sent.resumed_parts,
        mtime_ns=before.st_mtime_ns,
    )


def _delete_superseded(
    project: FrameioProject, job: UploadJob, partial: Asset, lock: LockFactory
) -> None:
    """Delete the partial upload that the complete file just replaced (under the stack lock:
    it may sit in the shot's stack)."""
    store = ListingStore(job.settings)
    with lock(listing_lock_key(job.folder_id)):
        project.delete_file(partial.id)
        store.forget(job.folder_id)
    upload_logger().warning(
        "%s: deleted the partial upload %s (%d bytes); the complete file replaced it",
        job.shot.file,
        partial.id,
        partial.file_size or 0,
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
        SourceFileError: the file is missing or empty (0 bytes), or changed while it was sent.
        FrameioNotFound / FrameioAuthError: the folder is gone / credentials refused (a
            multipart attempt would fail the same way, so a remote failure of this kind is
            raised at once).
        PartUploadError / UploadFailed / FrameioError: the multipart upload failed.
    """
    try:
        before = source_stat(job.path)
        refuse_empty(job.path)  # the callers check first; this is the last word
    except SourceFileError:
        _discard_checkpoint(project, job)
        raise
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
        multipart = MultipartTransfer(
            project, job.settings, _checkpoints(job), progress, job.checksum
        )
        try:
            return _attempt(project, job, before, multipart, reason, lock)
        except (DeliveryMismatch, PartUploadError) as exc:
            if isinstance(exc, PartUploadError) and not exc.expired:
                raise
            upload_logger().warning("%s: %s; sending it again as a new file", job.shot.file, exc)
            return _attempt(project, job, before, multipart, reason, lock)


def _discard_checkpoint(project: FrameioProject, job: UploadJob) -> None:
    """The source is gone: delete the unfinished upload a crashed attempt left, if any."""
    checkpoints = _checkpoints(job)
    found = checkpoints.get(job.path)
    if found is not None:
        upload_logger().warning(
            "%s: source gone; deleting its unfinished upload %s", job.shot.file, found.file_id
        )
        MultipartTransfer(project, job.settings, checkpoints).discard(job.path, found.file_id)


@task(name="upload-file", cache_policy=NO_CACHE)
def upload_file(
    project: FrameioProject, job: UploadJob, endpoint: RemoteEndpoint | None = None
) -> UploadResult:
    """Prefect task around :func:`run_upload`: the ingest flow's upload step.

    The flow adds transient retries (429, 5xx, network); a retry chooses the strategy again.
    Holds an ``<installation>-uploads`` slot (:func:`tasks.platform.limits.upload_slot`) when
    Prefect limits
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
    with upload_slot(job.settings.use_prefect_limits, job.settings.installation):
        return run_upload(project, job, endpoint, _progress_callbacks().get(job.path))


def _progress_callbacks() -> dict[str, ProgressCallback]:
    """Who listens to the byte progress of which path, in the current runtime."""
    return current_runtime().registry("upload-progress")


@contextlib.contextmanager
def progress_for(path: str, callback: ProgressCallback) -> Iterator[None]:
    """Inside the block, :func:`upload_file` of ``path`` (as the flow got it) also reports its
    multipart byte progress to ``callback`` (``postflow ingest``'s progress bar); the progress
    log lines are unchanged, and runs without a listener get None as before."""
    callbacks = _progress_callbacks()
    callbacks[path] = callback
    try:
        yield
    finally:
        callbacks.pop(path, None)
