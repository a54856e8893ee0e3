"""`SandboxServer`: a local Frame.io v4 + Adobe IMS stand-in on a loopback port.

Use `.url` as both the SDK's `base_url` and the auth helpers' `ims_base_url` (the SDK appends
`/v4/...` and `/ims/...` itself)::

    with SandboxServer(tmp_path / "sandbox") as sandbox:
        auth = ServerToServerAuth(client_id=sandbox.client_id, client_secret=sandbox.client_secret,
                                  ims_base_url=sandbox.url)
        client = Frameio(base_url=sandbox.url, token=auth.get_token)
        client.folders.create(sandbox.account_id, sandbox.root_folder_id,
                              data=FolderCreateParamsData(name="SHOT_010"))

State (tree, tokens, bytes) persists in `data_dir`; a new server on the same dir resumes it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from core.loopback import UvicornThread
from postflow.sandbox import defaults
from postflow.sandbox.admin import tree_snapshot
from postflow.sandbox.admin_review import SandboxReview
from postflow.sandbox.app import build_app
from postflow.sandbox.faults import FaultRule
from postflow.sandbox.state import SandboxConfig, SandboxState

__all__ = ["SandboxServer", "run_sandbox"]


class SandboxServer:
    """Run the sandbox in a background thread (context manager or `start()`/`stop()`).

    Args:
        data_dir: Directory for the SQLite metadata, part bytes and signing key (created).
        host: Interface to bind.
        port: TCP port; 0 picks a free one.
        target_part_bytes: Desired upload part size in bytes (part count = ceil(size / this)).
        uneven_parts: Split uploads into unequal parts so clients must use each URL's `size`.
        rate_limits: Enforce the documented per-operation limits (429 + Retry-After).
        token_ttl_seconds: `expires_in` of issued access tokens.
        transcode_delay_seconds: How long completed files report "uploaded" before "transcoded".
        stack_reorder: Serve the version-stack reorder call (False: 404, as without it).
        second_project: Serve a second project, `second_project_id` (several productions).
        part_url_ttl_seconds: Lifetime of part upload URLs in seconds (`X-Amz-Expires`,
            1..604800; Frame.io's is not documented). Runtime: POST /_sandbox/settings.
        webhook_retry_seconds: First retry delay of a failed webhook delivery, doubling
            (Frame.io: 15 s); `review` has the reviewer's actions and delivery faults.

    Raises:
        OSError: From `start()` when the port cannot be bound.
        ValueError: On invalid tunables (e.g. target_part_bytes < 1, a URL lifetime > 7 days).
    """

    account_id = defaults.SANDBOX_ACCOUNT_ID
    workspace_id = defaults.SANDBOX_WORKSPACE_ID
    project_id = defaults.SANDBOX_PROJECT_ID
    root_folder_id = defaults.SANDBOX_ROOT_FOLDER_ID
    second_project_id = defaults.SANDBOX_SECOND_PROJECT_ID
    second_root_folder_id = defaults.SANDBOX_SECOND_ROOT_FOLDER_ID

    def __init__(
        self,
        data_dir: Path,
        host: str = defaults.DEFAULT_SANDBOX_HOST,
        port: int = 0,
        *,
        target_part_bytes: int = defaults.DEFAULT_TARGET_PART_BYTES,
        uneven_parts: bool = False,
        rate_limits: bool = True,
        token_ttl_seconds: int = defaults.DEFAULT_TOKEN_TTL_SECONDS,
        transcode_delay_seconds: float = defaults.DEFAULT_TRANSCODE_DELAY_SECONDS,
        stack_reorder: bool = True,
        second_project: bool = False,
        part_url_ttl_seconds: int = defaults.DEFAULT_PART_URL_TTL_SECONDS,
        webhook_retry_seconds: float = defaults.DEFAULT_WEBHOOK_RETRY_SECONDS,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.config = SandboxConfig(
            target_part_bytes=target_part_bytes,
            uneven_parts=uneven_parts,
            rate_limits=rate_limits,
            token_ttl_seconds=token_ttl_seconds,
            transcode_delay_seconds=transcode_delay_seconds,
            stack_reorder=stack_reorder,
            second_project=second_project,
            part_url_ttl_seconds=part_url_ttl_seconds,
            webhook_retry_seconds=webhook_retry_seconds,
        )
        self._host = host
        self._port = port
        self._state: SandboxState | None = None
        self._thread: UvicornThread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Open the data dir, seed it on first use and start serving; returns self."""
        self._state = SandboxState(self.data_dir, self.config)
        self._thread = UvicornThread(build_app(self._state), self._host, self._port)
        try:
            self._thread.start()
        except BaseException:
            self._state.close()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and close the database. Idempotent."""
        if self._thread is not None:
            self._thread.stop()
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses and credentials --------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321" (SDK base_url and ims_base_url)."""
        return self._running_thread().url

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._running_thread().port

    @property
    def client_id(self) -> str:
        """IMS client ID accepted by the sandbox."""
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        """IMS client secret accepted by the sandbox."""
        return self.config.client_secret

    def postflow_environment(
        self, absent_block: str = "postflow-sandbox-absent-block"
    ) -> dict[str, str]:
        """The ``POSTFLOW_FRAMEIO_*`` variables that point a pipeline process at this sandbox,
        credentials from variables (``absent_block`` names a credentials block never saved).
        Requires the server to be started (its URL)."""
        return {
            "POSTFLOW_FRAMEIO_API_BASE_URL": self.url,
            "POSTFLOW_FRAMEIO_IMS_BASE_URL": self.url,
            "POSTFLOW_FRAMEIO_ACCOUNT_ID": self.account_id,
            "POSTFLOW_FRAMEIO_PROJECT_ID": self.project_id,
            "POSTFLOW_FRAMEIO_CLIENT_ID": self.client_id,
            "POSTFLOW_FRAMEIO_CLIENT_SECRET": self.client_secret,
            "POSTFLOW_FRAMEIO_CREDENTIALS_BLOCK": absent_block,
        }

    @property
    def review(self) -> SandboxReview:
        """Comments, Status changes and webhook faults, as a reviewer would make them.

        Raises:
            RuntimeError: When the server is not running.
        """
        return SandboxReview(self.state)

    @property
    def state(self) -> SandboxState:
        """The live state (stores, fault plan, counters).

        Raises:
            RuntimeError: When the server is not running.
        """
        if self._state is None:
            raise RuntimeError("sandbox is not running")
        return self._state

    def issue_access_token(self, ttl_seconds: int | None = None) -> str:
        """Mint a bearer token directly (skipping IMS), valid for ttl_seconds (default TTL)."""
        grant = self.state.tokens.issue(
            "access",
            client_id=self.client_id,
            subject="service",
            scope="",
            ttl_seconds=ttl_seconds or self.config.token_ttl_seconds,
        )
        return grant.token

    # --- faults ---------------------------------------------------------------------------------
    def inject_status(
        self,
        status: int,
        count: int = 1,
        path: str = ".*",
        method: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> FaultRule:
        """Answer the next `count` requests matching `path` (regex) and `method` with `status`.

        429 gets `Retry-After: 1` unless `retry_after_seconds` says otherwise. The body follows
        the path's dialect: Frame.io JSON, IMS JSON, or S3 XML for `/_upload/` part PUTs.

        Raises:
            ValueError: status outside 400-599, count < 1 or an invalid regex.
        """
        return self.state.faults.add_status(status, count, path, method, retry_after_seconds)

    def inject_drop(self, count: int = 1, path: str = ".*", method: str | None = None) -> FaultRule:
        """Close the connection mid-response on the next `count` matching requests.

        Raises:
            ValueError: count < 1 or an invalid regex.
        """
        return self.state.faults.add_drop(count, path, method)

    def inject_lost_response(
        self, count: int = 1, path: str = ".*", method: str | None = None
    ) -> FaultRule:
        """Apply the next `count` matching requests, then drop the connection before answering.

        The server-side change happens (folder created, part stored, file moved); the client sees
        a network error (httpx.RemoteProtocolError), as when a connection dies after the work.

        Raises:
            ValueError: count < 1 or an invalid regex.
        """
        return self.state.faults.add_lost_response(count, path, method)

    def set_latency(self, seconds: float) -> None:
        """Delay every non-admin request by `seconds` (0 disables)."""
        self.state.faults.set_latency(seconds)

    def clear_faults(self) -> None:
        """Drop every pending fault and the added latency."""
        self.state.faults.clear()

    def set_rate_limits(self, enabled: bool) -> None:
        """Switch rate-limit enforcement on or off at runtime."""
        self.state.limiter.enabled = enabled

    # --- inspection -----------------------------------------------------------------------------
    def stored_path(self, file_id: str) -> Path:
        """Path of the file's data on disk (its bytes at their offsets).

        Raises:
            KeyError: Unknown file ID.
        """
        asset = self.state.assets.get(file_id)
        if asset is None or asset.type != "file":
            raise KeyError(file_id)
        return self.state.assets.blob_path(file_id)

    def stored_bytes(self, file_id: str) -> bytes:
        """All stored bytes of a file (parts not yet received read as zeros).

        Raises:
            KeyError: Unknown file ID.
        """
        return self.stored_path(file_id).read_bytes()

    def tree(self) -> dict[str, Any]:
        """The whole project tree (see `admin.tree_snapshot` for the shape)."""
        return tree_snapshot(self.state)

    def stats(self) -> dict[str, Any]:
        """Request counters (see `stats.Stats.snapshot`)."""
        return self.state.stats.snapshot()

    def reset(self) -> None:
        """Empty the tree (root folder and tokens stay), faults, counters and rate buckets."""
        self.state.reset()

    def _running_thread(self) -> UvicornThread:
        if self._thread is None or self._state is None:
            raise RuntimeError("sandbox is not running")
        return self._thread


def run_sandbox(
    host: str,
    port: int,
    data_dir: Path,
    target_part_bytes: int = defaults.DEFAULT_TARGET_PART_BYTES,
    rate_limits: bool = True,
    *,
    uneven_parts: bool = False,
    token_ttl_seconds: int = defaults.DEFAULT_TOKEN_TTL_SECONDS,
    on_ready: Callable[[SandboxServer], None] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve the sandbox until Ctrl-C, SIGTERM or `stop_event` is set. Prints nothing.

    Args:
        host: Interface to bind.
        port: TCP port (0 picks one; `on_ready` receives the server to read `.url`).
        data_dir: Sandbox data directory (created; reused if it exists).
        target_part_bytes: Desired upload part size in bytes.
        rate_limits: Enforce the documented per-operation limits.
        uneven_parts: Split uploads into unequal parts.
        token_ttl_seconds: `expires_in` of issued access tokens.
        on_ready: Called once the server listens (e.g. the CLI prints URL and credentials).
        stop_event: Set it from another thread to stop.

    Raises:
        OSError: When the port cannot be bound.
    """
    stop = stop_event or threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main_thread else None
    try:
        with SandboxServer(
            data_dir,
            host,
            port,
            target_part_bytes=target_part_bytes,
            uneven_parts=uneven_parts,
            rate_limits=rate_limits,
            token_ttl_seconds=token_ttl_seconds,
        ) as server:
            if on_ready is not None:
                on_ready(server)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        return
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
