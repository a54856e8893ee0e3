"""The opt-in sample check: a few byte ranges of what Frame.io stored, compared with the source.

After ``upload_complete`` and the size check, :func:`check_samples` downloads
``upload_verify_sample_ranges`` ranges of ``upload_verify_sample_bytes`` each from the file's
``media_links.original`` (HTTP Range requests): the first and last bytes and ranges spread
evenly between, and compares them with the same bytes of the source. Off by default: each
range is a download from Frame.io's storage (egress and time) and a read of the source, so
with 4 ranges of 1 MiB a file costs about 4 MiB each way whatever its size.
"""

from __future__ import annotations

import os

import httpx

from blocks.frameio_project import FrameioProject
from core.errors import DeliveryMismatch, FrameioNetworkError

__all__ = ["check_samples", "sample_ranges"]


def sample_ranges(size_bytes: int, count: int, length: int) -> list[tuple[int, int]]:
    """``count`` ranges ``(offset, length)`` of ``length`` bytes over a ``size_bytes`` file:
    its start, its end and evenly between (fewer, merged, for a small file)."""
    if size_bytes <= 0 or count <= 0:
        return []
    if count * length >= size_bytes:
        return [(0, size_bytes)]
    if count == 1:
        return [(0, length)]
    step = (size_bytes - length) / (count - 1)
    return [(round(i * step), length) for i in range(count)]


def check_samples(
    project: FrameioProject,
    file_id: str,
    path: str,
    size_bytes: int,
    count: int,
    length: int,
    timeout_seconds: float = 60.0,
) -> int:
    """Compare ``count`` ranges of the stored file with the source; returns the bytes compared.

    Args:
        project: the Frame.io project.
        file_id: the complete file.
        path: the source file.
        size_bytes: its size in bytes.
        count: ranges to compare.
        length: bytes per range.
        timeout_seconds: per download.

    Raises:
        DeliveryMismatch: a range differs (the caller deletes the file and sends it again).
        FrameioNetworkError: a range could not be downloaded (transient).
    """
    url = project.original_download_url(file_id)
    if not url:
        return 0  # Frame.io gives no original link (yet): nothing to compare
    compared = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        with httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client:
            for offset, count_bytes in sample_ranges(size_bytes, count, length):
                end = offset + count_bytes - 1
                try:
                    response = client.get(url, headers={"Range": f"bytes={offset}-{end}"})
                except httpx.TransportError as exc:
                    raise FrameioNetworkError("sample download", type(exc).__name__) from exc
                if response.status_code >= 500:
                    raise FrameioNetworkError(
                        "sample download", "storage error", status_code=response.status_code
                    )
                stored = response.content
                if response.status_code == 200:  # the server ignored Range: cut it here
                    stored = stored[offset : end + 1]
                if stored != os.pread(fd, count_bytes, offset):
                    raise DeliveryMismatch(file_id, None, size_bytes, offset=offset)
                compared += count_bytes
    finally:
        os.close(fd)
    return compared
