"""The one error hierarchy of RL PostFlow.

Every failure the pipeline can meet is one of these classes. Lower-level errors (the
``frameio`` SDK's ``ApiError`` family, httpx transport errors, ``OSError``) are mapped once,
at the edge (:func:`blocks.frameio.map_frameio_error`, :mod:`tasks.upload`), and never leak
past it. Each error carries its facts as attributes and says whether it is *transient*
(worth retrying with backoff) or *permanent* (fail fast, a person must act)::

    PostflowError
    ├── NamingError                 permanent  a name matches no nomenclature rule / bad extension
    ├── ConfigurationError          permanent  settings or rules are invalid / missing
    ├── IngestCancelled             permanent  the run was cancelled from the Prefect UI / API
    ├── SourceFileError             permanent  the file vanished, shrank or changed while we read it
    ├── FrameioError
    │   ├── FrameioTransientError   transient
    │   │   ├── FrameioRateLimited      429; ``retry_after_seconds``
    │   │   ├── FrameioServerError      5xx, 408, 409
    │   │   └── FrameioNetworkError     connection refused / reset / timed out
    │   └── FrameioPermanentError   permanent
    │       ├── FrameioAuthError        401 / 403 (bad credentials, no permission, locked account)
    │       ├── FrameioNotFound         404
    │       └── FrameioRejected         400 / 422 (the request itself is wrong)
    ├── UploadError
    │   ├── PartUploadError         transient or permanent per ``status_code``; ``expired``: the
    │   │                                      URL's signature expired (the file starts over)
    │   ├── UploadFailed            permanent  Frame.io reports ``upload_failed`` or never completes
    │   ├── DeliveryMismatch        transient  Frame.io stored another size than was read (the
    │   │                                      file is deleted and sent again)
    │   └── RemoteUploadError       permanent  Frame.io could not pull the file through the
    │                                          tunnel; ``file_id``, ``reason`` (-> multipart)
    ├── TunnelError                 permanent  cloudflared missing, not starting or not ready;
    │   │                                      ``reason`` (-> multipart)
    │   └── TunnelSelfCheckFailed   permanent  the named tunnel's public hostname does not reach
    │                                          this process (-> multipart for its life)
    ├── NotificationError           transient on network/5xx, permanent on 4xx (bad webhook URL)
    ├── ManifestError               permanent  the ASC MHL delivery manifest cannot be read or
    │                                          written; ``root``, ``reason``
    ├── WebhookRefused              permanent  a Frame.io webhook delivery whose signature or
    │                                          timestamp does not check out; ``reason``
    └── StateStoreError             transient  the state store (SQLite file or PostgreSQL) cannot
                                               be reached, read or written; also an ``OSError``

:func:`is_transient` is the single retry predicate used by Prefect ``retry_condition_fn`` s and
by the part uploader.
"""

from __future__ import annotations

from collections.abc import Sequence


class PostflowError(Exception):
    """Base class of every RL PostFlow error.

    Attributes:
        transient: True when retrying the same operation later may succeed.
    """

    transient: bool = False


class NamingError(PostflowError):
    """A file name matches no nomenclature rule, or has an unsupported extension.

    Attributes:
        file: the (NFC-normalised) file name.
        reason: what is wrong, in words a user can act on.
        rules_tried: names of the rules that were tried, in order.
    """

    def __init__(self, file: str, reason: str, rules_tried: Sequence[str] = ()) -> None:
        self.file = file
        self.reason = reason
        self.rules_tried = list(rules_tried)
        tried = ", ".join(self.rules_tried) or "none"
        super().__init__(f"{file}: {reason} (rules tried: {tried})")


class ConfigurationError(PostflowError):
    """Settings or nomenclature rules are invalid or incomplete."""


class IngestCancelled(PostflowError):
    """The ingest's flow run was cancelled (Prefect UI or API) while it uploaded.

    Attributes:
        flow_run_id: the cancelled run's id, as a string.
    """

    def __init__(self, flow_run_id: str) -> None:
        self.flow_run_id = flow_run_id
        super().__init__(f"flow run {flow_run_id} was cancelled; the upload stopped")


class SourceFileError(PostflowError):
    """The source file vanished, shrank or changed while it was being read or uploaded.

    Attributes:
        path: the file's path as a string.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class FrameioError(PostflowError):
    """A Frame.io API call failed.

    Attributes:
        status_code: the HTTP status, or None for network-level failures.
        operation: what we were doing (e.g. ``"folders.create"``).
        detail: Frame.io's ``errors[].detail`` text when it sent one.
    """

    def __init__(
        self, operation: str, message: str, *, status_code: int | None = None, detail: str = ""
    ) -> None:
        self.operation = operation
        self.status_code = status_code
        self.detail = detail
        code = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"Frame.io {operation} failed{code}: {message}")


class FrameioTransientError(FrameioError):
    """A Frame.io failure that is worth retrying with backoff."""

    transient = True


class FrameioRateLimited(FrameioTransientError):
    """Frame.io answered 429.

    Attributes:
        retry_after_seconds: the ``Retry-After`` header value in seconds, or None when absent.
    """

    def __init__(
        self, operation: str, message: str, *, retry_after_seconds: float | None = None
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(operation, message, status_code=429)


class FrameioServerError(FrameioTransientError):
    """Frame.io answered 5xx (or 408/409, which its SDK also treats as retryable)."""


class FrameioNetworkError(FrameioTransientError):
    """The connection to Frame.io failed before an HTTP status arrived."""


class FrameioPermanentError(FrameioError):
    """A Frame.io failure that retrying will not fix."""


class FrameioAuthError(FrameioPermanentError):
    """401/403: credentials are wrong or expired, or the account lacks permission or is locked."""


class FrameioNotFound(FrameioPermanentError):
    """404: the account, project, folder or file id does not exist (or is not visible)."""


class FrameioRejected(FrameioPermanentError):
    """400/422: Frame.io rejected the request as malformed or invalid."""


class UploadError(PostflowError):
    """Moving bytes to Frame.io failed."""


class PartUploadError(UploadError):
    """A part PUT to a pre-signed URL failed.

    Attributes:
        part_number: 1-based part index.
        status_code: the HTTP status, or None for a network failure.
        retry_after_seconds: ``Retry-After`` from the storage service, when sent.
        expired: S3 refused the pre-signed URL as expired (403 ``AccessDenied`` "Request has
            expired"): this URL will never work again, but a new file with new URLs will, so
            the error is transient for the upload and final for the part.
    """

    def __init__(
        self,
        part_number: int,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        expired: bool = False,
    ) -> None:
        self.part_number = part_number
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.expired = expired
        self.transient = expired or status_code is None or status_code == 429 or status_code >= 500
        super().__init__(f"part {part_number}: {message}")


class UploadFailed(UploadError):
    """Frame.io reported the upload as failed, or it did not complete in time."""


class DeliveryMismatch(UploadError):
    """Frame.io reports the completed file with another size than the bytes we read and sent.

    Attributes:
        file_id: the Frame.io file (deleted by the time this is raised).
        stored_bytes: ``file_size`` Frame.io reports (None when it reports none).
        read_bytes: bytes read from the source and sent.
        offset: where a sampled range differed (the opt-in sample check), else None.
    """

    transient = True

    def __init__(
        self,
        file_id: str,
        stored_bytes: int | None,
        read_bytes: int,
        *,
        offset: int | None = None,
    ) -> None:
        self.file_id, self.stored_bytes, self.read_bytes = file_id, stored_bytes, read_bytes
        self.offset = offset
        what = (
            f"Frame.io's copy of file {file_id} differs from the source at byte {offset}"
            if offset is not None
            else f"Frame.io stored {stored_bytes} bytes of the {read_bytes} sent for file {file_id}"
        )
        super().__init__(f"{what}; deleting it, to send it again")


class RemoteUploadError(UploadError):
    """A remote upload (Frame.io pulling our file through the tunnel) did not complete.

    Raised for ``upload_failed``, a timeout, or a tunnel that went away mid-transfer; the
    partial remote file has already been deleted when this is raised.

    Attributes:
        file_id: the Frame.io file id of the failed remote upload, or None if never created.
        reason: what went wrong, in words.
    """

    def __init__(self, reason: str, *, file_id: str | None = None) -> None:
        self.reason = reason
        self.file_id = file_id
        where = f" (file {file_id})" if file_id else ""
        super().__init__(f"remote upload failed{where}: {reason}")


class TunnelError(PostflowError):
    """The public tunnel (cloudflared) to the Range server is not available.

    Attributes:
        reason: why, e.g. "cloudflared not on PATH" or "not ready after 60 s".
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"tunnel unavailable: {reason}")


class TunnelSelfCheckFailed(TunnelError):
    """A named tunnel is up but its public hostname does not reach this process's Range
    server (:mod:`blocks.tunnel_canary`): nothing answers, or another process does.

    Attributes:
        reason: why, in one line without secrets, e.g. "another process answers at ...".
    """


def is_transient(exc: BaseException) -> bool:
    """Tell whether an exception is worth retrying.

    Args:
        exc: any exception.

    Returns:
        True for :class:`PostflowError` s marked transient; False for everything else
        (unknown exceptions are treated as bugs, not retried).
    """
    return isinstance(exc, PostflowError) and exc.transient


def retry_after_of(exc: BaseException) -> float | None:
    """Return the server-requested wait in seconds carried by ``exc``, if any."""
    return getattr(exc, "retry_after_seconds", None)


class NotificationError(PostflowError):
    """Discord refused or did not receive a message.

    Attributes:
        status_code: the HTTP status, or None for a network failure.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        self.transient = status_code is None or status_code == 429 or status_code >= 500
        super().__init__(message)


class ManifestError(PostflowError):
    """The ASC MHL history of the delivery manifest cannot be read or written
    (:mod:`tasks.manifest`): a generation was edited or removed, or the folder is not writable.

    Attributes:
        root: the history's root folder (the one holding ``ascmhl/``).
        reason: what went wrong.
    """

    def __init__(self, root: object, reason: str) -> None:
        self.root = str(root)
        self.reason = reason
        super().__init__(
            f"delivery manifest {self.root}: {reason} (check POSTFLOW_MANIFEST_DIR and its "
            "permissions; the deliveries stay in the state store and are written next time)"
        )


class WebhookRefused(PostflowError):
    """A webhook delivery that is not Frame.io's, or not fresh: it is answered 401 and
    nothing of it is acted on (:mod:`blocks.webhook_signature`).

    Attributes:
        reason: which check failed (missing header, bad timestamp, stale, bad signature).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook delivery refused: {reason}")


class StateStoreError(PostflowError, OSError):
    """The state store (:mod:`blocks.store`) cannot be reached, read or written.

    Also an ``OSError``: callers that kept going when a JSON state file could not be written
    (a full disk, a read-only state dir) keep going the same way when the database cannot.
    The message never holds the store's password.
    """

    transient = True
