"""Remote upload: Frame.io pulls the file from our Range server through the tunnel.

Register the file on the Range server (a signed, expiring URL) and prefix the tunnel's public
address; ``files.create_remote_upload(folder, name, source_url)`` (202); then poll upload
status until ``upload_complete``, ``upload_failed``, the tunnel changing address, or
``remote_upload_timeout_seconds``. The registration is revoked in every case and a failed
remote file is deleted, so the caller can fall back to multipart and exactly one file ends up
in the shot folder. Frame.io "Create file (remote upload)":
https://next.developer.frame.io/platform/api-reference/files/create-remote-upload
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from blocks.frameio_project import FrameioProject
from blocks.remote_endpoint import RemoteEndpoint
from blocks.tunnel import TunnelManager
from config.settings import PostflowSettings
from core.errors import PostflowError, RemoteUploadError
from tasks.platform.cancellation import cancel_check
from tasks.upload.logs import upload_logger
from tasks.upload.transfer import Sent

__all__ = ["NAMED_TUNNEL_DOWN_GRACE_SECONDS", "RemoteTransfer", "wait_pulled"]

# How long a remote upload waits for a named tunnel that went down to come back (seconds).
NAMED_TUNNEL_DOWN_GRACE_SECONDS = 60.0


def _tunnel_problem(
    tunnel: TunnelManager, base_url: str, down_since: float | None, grace: float
) -> tuple[str | None, float | None]:
    """``(why the source URL is gone or None, when the tunnel went down or None)``."""
    current = tunnel.base_url
    if current is not None and current != base_url:
        return f"tunnel restarted at {current}; source URL gone", None
    down_since = (down_since or time.monotonic()) if current is None else None
    if down_since is not None and time.monotonic() - down_since >= grace:
        return f"tunnel down ({tunnel.reason or 'not ready'}); source URL unreachable", down_since
    return None, down_since


def wait_pulled(
    project: FrameioProject, file_id: str, tunnel: TunnelManager, base_url: str, timeout: float
) -> None:
    """Poll upload status until Frame.io has pulled the whole file.

    A quick tunnel comes back under a new hostname, so once it is down the source URL is dead:
    give up at once. A named tunnel keeps its hostname: give it
    ``NAMED_TUNNEL_DOWN_GRACE_SECONDS`` to return.

    Args:
        project: the Frame.io project.
        file_id: the remote file being pulled.
        tunnel: the tunnel in front of the Range server.
        base_url: the tunnel's public base URL the source URL was made with.
        timeout: give up after this many seconds.

    Raises:
        RemoteUploadError: ``upload_failed``, the tunnel's address changed or it stayed down
            past the grace, or ``timeout`` seconds passed.
        IngestCancelled: the flow run was cancelled meanwhile (:mod:`tasks.platform.cancellation`).
    """
    deadline = time.monotonic() + timeout
    delay = 0.25  # upload status allows 5 calls/s, shared by concurrent ingests
    grace = 0.0 if tunnel.mode == "quick" else NAMED_TUNNEL_DOWN_GRACE_SECONDS
    down_since: float | None = None
    check_cancelled = cancel_check()
    while True:
        check_cancelled()
        status = project.upload_status(file_id)
        if status.upload_failed:
            raise RemoteUploadError("Frame.io reports upload_failed", file_id=file_id)
        if status.upload_complete:
            return
        problem, down_since = _tunnel_problem(tunnel, base_url, down_since, grace)
        if problem is not None:
            raise RemoteUploadError(problem, file_id=file_id)
        if time.monotonic() > deadline:
            raise RemoteUploadError(
                f"not complete after {timeout:.0f} s (POSTFLOW_REMOTE_UPLOAD_TIMEOUT_SECONDS)",
                file_id=file_id,
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


class RemoteTransfer:
    """Have Frame.io pull a file through the tunnel (a :class:`tasks.upload.transfer.Transfer`).

    Args:
        project: the Frame.io project.
        settings: ``remote_upload_timeout_seconds`` is read.
        endpoint: the running Range server and tunnel.
    """

    strategy = "remote"
    hashes_source = False

    def __init__(
        self, project: FrameioProject, settings: PostflowSettings, endpoint: RemoteEndpoint
    ) -> None:
        self.project, self.settings, self.endpoint = project, settings, endpoint

    @contextmanager
    def send(self, folder_id: str, name: str, path: str, source: os.stat_result) -> Iterator[Sent]:
        """Share ``path``, create the remote upload and wait until Frame.io pulled it.

        The share is revoked on exit; any failure, inside the block too, deletes the remote
        file (a failure to delete is logged).

        Raises:
            TunnelError: the tunnel is down (nothing was created).
            RemoteUploadError: Frame.io failed, the tunnel went away, or the wait timed out.
            FrameioError: an API call failed.
        """
        server, tunnel = self.endpoint.range_server, self.endpoint.tunnel
        shared = server.share(path)
        try:
            source_url = tunnel.public_url(shared.url_path)
            base_url = source_url[: -len(shared.url_path)]
            started = time.monotonic()
            created = self.project.create_remote_upload(folder_id, name, source_url)
            upload_logger().info(
                "%s: Frame.io pulls %d bytes from %s", name, source.st_size, base_url
            )
            try:
                timeout = self.settings.remote_upload_timeout_seconds
                wait_pulled(self.project, created.id, tunnel, base_url, timeout)
                yield Sent(created.id, started)
            except BaseException:
                self._delete_quietly(created.id)
                raise
        finally:
            server.revoke(shared.token)

    def wait_complete(self, file_id: str) -> None:
        """Nothing left to wait for: :meth:`send` returns once Frame.io has the whole file."""

    def _delete_quietly(self, file_id: str) -> None:
        """Delete a failed remote file; a failure to delete is logged (the next attempt's
        :func:`tasks.upload.identity.same_name_files` removes an incomplete leftover anyway)."""
        try:
            self.project.delete_file(file_id)
        except PostflowError as exc:
            upload_logger().warning("could not delete failed remote upload %s: %s", file_id, exc)
