"""What an upload is given (:class:`UploadJob`) and what it did (:class:`UploadResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from config.settings import PostflowSettings
from tasks.structure.naming import Nomenclature, ShotName

__all__ = ["UploadJob", "UploadResult"]


@dataclass(frozen=True)
class UploadJob:
    """One file to upload, and everything that decides how.

    Attributes:
        path: absolute path of the ready source file.
        shot: its parsed name (``shot.file`` is the name in Frame.io).
        folder_id: the shot folder's Frame.io id.
        nomenclature: rules, to find the shot's other versions for the version stack.
        settings: upload, remote-upload and lock settings.
        checksum: fingerprint the source (XXH3-128) while sending (False: ``fingerprint`` is
            "", and a later rewrite of the file always counts as a re-render).
    """

    path: str
    shot: ShotName
    folder_id: str
    nomenclature: Nomenclature
    settings: PostflowSettings
    checksum: bool = True


@dataclass(frozen=True, kw_only=True)
class UploadResult:
    """What an upload did.

    Attributes:
        file_id: Frame.io file id.
        name: file name in Frame.io.
        size_bytes: bytes of the source file.
        seconds: wall time of the byte transfer and completion check (0 when skipped).
        fingerprint: XXH3-128 hex of the source ("" when disabled, or skipped with none
            recorded).
        strategy: ``"multipart"``, ``"remote"``, or ``"skipped"`` when the file was there.
        view_url: Frame.io web-app link to the file.
        parts: number of part PUTs (0 when skipped or remote).
        retried_parts: part PUTs that had to be retried.
        version_stack_id: the stack the file sits in, if any.
        rate_limited: 429 answers absorbed from the API during this upload.
        strategy_reason: why this strategy was used (e.g. "tunnel unavailable: ...").
        re_render: a file of the same name was already there with other content; this one
            was sent as a new version on top of it.
        resumed_parts: parts an interrupted earlier attempt had stored, not sent again.
        mtime_ns: the source's modification time when it was read (nanoseconds since the
            epoch; the delivery manifest records it beside ``size_bytes`` and ``fingerprint``).
    """

    file_id: str
    name: str
    size_bytes: int
    seconds: float
    fingerprint: str
    strategy: str
    view_url: str
    parts: int = 0
    retried_parts: int = 0
    version_stack_id: str | None = None
    rate_limited: int = 0
    strategy_reason: str = ""
    re_render: bool = False
    resumed_parts: int = 0
    mtime_ns: int = 0

    @property
    def megabytes_per_second(self) -> float:
        """Throughput in MB/s (10^6 bytes), 0 when nothing was sent."""
        return self.size_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-able dict including ``megabytes_per_second``."""
        return {**asdict(self), "megabytes_per_second": round(self.megabytes_per_second, 2)}
