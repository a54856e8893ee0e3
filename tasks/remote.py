"""Remote upload: Frame.io pulls the file from our Range server through the tunnel.

Chosen per file (:func:`choose_strategy`), with automatic fallback (:func:`upload_with_fallback`):

1. idempotency as for multipart: a completed same-name, same-size file in the shot folder (or
   its version stack) means nothing to upload (:func:`tasks.upload.find_uploaded`);
2. register the file on the Range server -> a signed, expiring URL; prefix the tunnel's
   public address;
3. ``files.create_remote_upload(folder, name, source_url)`` (202), then poll ``upload status``
   until ``upload_complete``, ``upload_failed``, the tunnel changing address, or
   ``remote_upload_timeout_seconds``; the registration is revoked in every case;
4. on failure the partial remote file is deleted and the same call uploads by multipart, so
   exactly one file ends up in the shot folder;
5. add the file to the shot's version stack (:func:`tasks.upload.add_to_version_stack`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.frameio_project import FrameioProject
from blocks.part_uploader import ProgressCallback
from blocks.range_server import RangeServer
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings
from core.errors import (
    FrameioAuthError,
    FrameioNotFound,
    PostflowError,
    RemoteUploadError,
    SourceFileError,
)
from core.units import human_bytes
from tasks.limits import upload_slot
from tasks.naming import Nomenclature, ShotName
from tasks.upload import (
    UploadResult,
    _logger,
    add_to_version_stack,
    already_uploaded,
    file_sha256,
    folder_lock,
    source_stat,
    upload_file_to_folder,
)

__all__ = [
    "choose_strategy",
    "upload_file_auto",
    "upload_remote",
    "upload_with_fallback",
]

# How long a remote upload waits for a named tunnel that went down to come back (seconds).
NAMED_TUNNEL_DOWN_GRACE_SECONDS = 60.0

# Remote failures after which multipart would fail the same way: raised, not fallen back from.
_NO_FALLBACK = (SourceFileError, FrameioNotFound, FrameioAuthError)


def choose_strategy(
    settings: PostflowSettings, size_bytes: int, tunnel: TunnelManager | None
) -> tuple[str, str]:
    """Pick ``"remote"`` or ``"multipart"`` for one file, and say why.

    ``upload_strategy=multipart`` always gives multipart. Otherwise (``auto`` or ``remote``)
    remote is used when the tunnel is healthy and the file is at most
    ``remote_upload_max_bytes`` (Frame.io's 50 GB cap); files above the cap always go multipart.

    Args:
        settings: ``upload_strategy`` and ``remote_upload_max_bytes`` are read.
        size_bytes: size of the file, in bytes.
        tunnel: the running tunnel, or None when there is none.

    Returns:
        ``(strategy, reason)``, e.g. ``("remote", "auto: tunnel healthy, 1.2 GB <= 50.0 GB cap")``
        or ``("multipart", "cloudflared not on PATH ('cloudflared'); uploads use multipart")``.
    """
    mode = settings.upload_strategy
    if mode == "multipart":
        return "multipart", "upload_strategy=multipart"
    cap = settings.remote_upload_max_bytes
    size, cap_text = human_bytes(size_bytes), human_bytes(cap)
    if size_bytes > cap:
        return "multipart", f"{size} > {cap_text} remote upload cap"
    if tunnel is None:
        why = "tunnel_mode=off" if settings.tunnel_mode == "off" else "no tunnel"
        return "multipart", why
    if not tunnel.healthy():
        return "multipart", f"tunnel unavailable: {tunnel.reason or 'not ready'}"
    return "remote", f"{mode}: tunnel healthy, {size} <= {cap_text} cap"


def _wait_remote(
    project: FrameioProject, file_id: str, tunnel: TunnelManager, base_url: str, timeout: float
) -> None:
    """Poll upload status until complete.

    Raises:
        RemoteUploadError: ``upload_failed``, the tunnel's address changed (a restarted quick
            tunnel: the source URL is gone), or ``timeout`` seconds passed.
    """
    deadline = time.monotonic() + timeout
    delay = 0.25  # upload status allows 5 calls/s, shared by concurrent ingests
    # A quick tunnel comes back under a new hostname, so once it is down the source URL is
    # dead: fall back at once. A named tunnel keeps its hostname: give it time to return.
    grace = 0.0 if tunnel.mode == "quick" else NAMED_TUNNEL_DOWN_GRACE_SECONDS
    down_since: float | None = None
    while True:
        status = project.upload_status(file_id)
        if status.upload_failed:
            raise RemoteUploadError("Frame.io reports upload_failed", file_id=file_id)
        if status.upload_complete:
            return
        current = tunnel.base_url
        if current is not None and current != base_url:
            raise RemoteUploadError(
                f"tunnel restarted at {current}; source URL gone", file_id=file_id
            )
        down_since = (down_since or time.monotonic()) if current is None else None
        if down_since is not None and time.monotonic() - down_since >= grace:
            raise RemoteUploadError(
                f"tunnel down ({tunnel.reason or 'not ready'}); source URL unreachable",
                file_id=file_id,
            )
        if time.monotonic() > deadline:
            raise RemoteUploadError(
                f"not complete after {timeout:.0f} s (POSTFLOW_REMOTE_UPLOAD_TIMEOUT_SECONDS)",
                file_id=file_id,
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def upload_remote(
    project: FrameioProject,
    folder_id: str,
    path: str,
    shot: ShotName,
    nomenclature: Nomenclature,
    settings: PostflowSettings,
    range_server: RangeServer,
    tunnel: TunnelManager,
    checksum: bool = True,
) -> UploadResult:
    """Have Frame.io pull ``path`` into folder ``folder_id`` unless it is already there.

    Args:
        project: the Frame.io project.
        folder_id: the shot folder.
        path: the source file.
        shot: its parsed name (``shot.file`` is the name in Frame.io).
        nomenclature: rules, to find the shot's other versions for the version stack.
        settings: ``remote_upload_timeout_seconds`` is read.
        range_server: serves the file; the registration is revoked before returning.
        tunnel: gives the public URL.
        checksum: compute the source's sha256 (read locally while Frame.io pulls).

    Returns:
        An :class:`UploadResult` with ``strategy="remote"`` (or ``"skipped"``).

    Raises:
        SourceFileError: the file is missing, or changed while Frame.io pulled it.
        TunnelError: the tunnel is down (nothing was created).
        RemoteUploadError: Frame.io failed or timed out (the partial file was deleted).
        FrameioError: an API call failed.
    """
    log = _logger()
    before = source_stat(path)
    size = before.st_size
    lock = folder_lock(settings)  # the same locks as multipart: several workers agree
    with lock(f"file:{folder_id}:{shot.file}"):
        rate_before = project.rate_limited_count
        skipped = already_uploaded(project, folder_id, shot, size, nomenclature, lock)
        if skipped is not None:
            return skipped
        shared = range_server.share(path)
        try:
            source_url = tunnel.public_url(shared.url_path)
            base_url = source_url[: -len(shared.url_path)]
            started = time.monotonic()
            created = project.create_remote_upload(folder_id, shot.file, source_url)
            log.info("%s: Frame.io pulls %d bytes from %s", shot.file, size, base_url)
            try:
                with ThreadPoolExecutor(1, thread_name_prefix="sha256") as pool:
                    digest = pool.submit(file_sha256, path, checksum)
                    timeout = settings.remote_upload_timeout_seconds
                    _wait_remote(project, created.id, tunnel, base_url, timeout)
                    after = os.stat(path)
                    if (after.st_size, after.st_mtime_ns) != (size, before.st_mtime_ns):
                        raise SourceFileError(
                            path, "changed while uploading; it will be sent when it settles"
                        )
                    sha = digest.result()
            except BaseException:
                _delete_quietly(project, created.id)
                raise
        finally:
            range_server.revoke(shared.token)
        seconds = time.monotonic() - started
        asset = project.show_file(created.id)
        stack_id = add_to_version_stack(project, folder_id, asset, shot, nomenclature, lock)
        return UploadResult(
            asset.id,
            asset.name,
            size,
            seconds,
            sha,
            "remote",
            asset.view_url,
            version_stack_id=stack_id,
            rate_limited=project.rate_limited_count - rate_before,
        )


def _delete_quietly(project: FrameioProject, file_id: str) -> None:
    """Delete a failed remote file; a failure to delete is logged (multipart's
    :func:`find_uploaded` removes an incomplete same-name leftover anyway)."""
    try:
        project.delete_file(file_id)
    except PostflowError as exc:
        _logger().warning("could not delete failed remote upload %s: %s", file_id, exc)


def upload_with_fallback(
    project: FrameioProject,
    folder_id: str,
    path: str,
    shot: ShotName,
    nomenclature: Nomenclature,
    settings: PostflowSettings,
    range_server: RangeServer | None = None,
    tunnel: TunnelManager | None = None,
    progress: ProgressCallback | None = None,
    checksum: bool = True,
) -> UploadResult:
    """Upload one file by remote upload or multipart, whichever fits, falling back to multipart.

    The strategy comes from :func:`choose_strategy`. A remote upload that fails (tunnel gone,
    Frame.io ``upload_failed``, timeout, an API error) has its partial file deleted and the
    same call then uploads by multipart, so exactly one file ends up in the shot folder.

    Args:
        project: the Frame.io project.
        folder_id: the shot folder's id.
        path: absolute path of the ready source file.
        shot: its parsed name.
        nomenclature: rules (for version stacking).
        settings: upload and remote-upload settings.
        range_server: a started :class:`RangeServer`, or None (multipart only).
        tunnel: a started :class:`TunnelManager`, or None (multipart only).
        progress: multipart byte-progress callback (bytes per call).
        checksum: compute the source's sha256.

    Returns:
        An :class:`UploadResult`; ``strategy`` is ``"remote"``, ``"multipart"`` or
        ``"skipped"`` and ``strategy_reason`` says why, e.g. ``"auto: tunnel healthy, 1.2 GB
        <= 50.0 GB cap"`` or ``"fallback: remote upload failed: ..."``.

    Raises:
        SourceFileError: the file is missing or changed.
        FrameioNotFound / FrameioAuthError: the folder is gone / credentials refused (a
            multipart attempt would fail the same way, so these are raised at once).
        PostflowError: the multipart upload failed too.
    """
    size = source_stat(path).st_size
    strategy, reason = choose_strategy(settings, size, tunnel)
    if strategy == "remote" and range_server is None:
        strategy, reason = "multipart", "no range server"
    if strategy == "remote":
        assert range_server is not None and tunnel is not None
        try:
            result = upload_remote(
                project,
                folder_id,
                path,
                shot,
                nomenclature,
                settings,
                range_server,
                tunnel,
                checksum=checksum,
            )
            return _with_reason(result, reason)
        except _NO_FALLBACK:
            raise
        except PostflowError as exc:
            _logger().warning(
                "%s: remote upload failed (%s); uploading by multipart", shot.file, exc
            )
            reason = f"fallback: remote upload failed: {getattr(exc, 'reason', exc)}"
    result = upload_file_to_folder(
        project, folder_id, path, shot, nomenclature, settings, progress, checksum
    )
    return _with_reason(result, reason)


def _with_reason(result: UploadResult, reason: str) -> UploadResult:
    skipped = result.strategy == "skipped"
    return replace(result, strategy_reason="already in Frame.io" if skipped else reason)


@task(name="upload-file", cache_policy=NO_CACHE)
def upload_file_auto(
    project: FrameioProject,
    folder_id: str,
    path: str,
    shot: ShotName,
    nomenclature: Nomenclature,
    settings: PostflowSettings,
    range_server: RangeServer | None = None,
    tunnel: TunnelManager | None = None,
) -> UploadResult:
    """Prefect task around :func:`upload_with_fallback`: the ingest flow's upload step.

    The flow adds transient retries (429, 5xx, network); a retry chooses the strategy again.
    Holds a ``postflow-uploads`` slot when Prefect limits are on, whichever path is used.
    """
    with upload_slot(settings.use_prefect_limits):
        return upload_with_fallback(
            project, folder_id, path, shot, nomenclature, settings, range_server, tunnel
        )
