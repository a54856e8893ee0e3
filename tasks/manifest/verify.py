"""Re-hash delivered sources against the manifest: OK, CHANGED or MISSING.

Each path is checked against its newest delivery (a re-render supersedes the earlier one). A
source whose size differs is CHANGED without being read; otherwise it is streamed through
XXH3-128 (the ``xxh128`` of ASC MHL) in 1 MiB blocks, reporting progress per block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import xxhash

from tasks.manifest.deliveries import Delivery

__all__ = ["Check", "Status", "file_xxh128", "latest_per_path", "verify_deliveries"]

_BLOCK_BYTES = 1 << 20

Progress = Callable[[int], None]
"""Called with the bytes just read (a progress bar's advance)."""


class Status(StrEnum):
    """What a source is now, compared with its delivery."""

    OK = "OK"
    CHANGED = "CHANGED"
    MISSING = "MISSING"


@dataclass(frozen=True)
class Check:
    """The check of one delivered source.

    Attributes:
        delivery: the delivery it was compared with.
        status: OK, CHANGED or MISSING.
        detail: why it is not OK ("" when OK), e.g. "size 10 B, delivered 12 B".
    """

    delivery: Delivery
    status: Status
    detail: str = ""


def file_xxh128(path: Path, progress: Progress | None = None) -> str:
    """XXH3-128 of the file at ``path`` as 32 lowercase hex digits, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as source:
        while block := source.read(_BLOCK_BYTES):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def latest_per_path(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """The newest delivery of each path, in path order."""
    newest: dict[str, Delivery] = {}
    for delivery in sorted(deliveries, key=lambda d: (d.delivered_at, d.file_id)):
        newest[delivery.rel_path] = delivery
    return [newest[path] for path in sorted(newest)]


def _check(watch_path: Path, delivery: Delivery, progress: Progress | None) -> Check:
    source = watch_path / delivery.rel_path
    try:
        size = os.stat(source).st_size
    except FileNotFoundError:
        return Check(delivery, Status.MISSING, f"{source} not found")
    if size != delivery.size_bytes:
        detail = f"size {size} B, delivered {delivery.size_bytes} B"
        return Check(delivery, Status.CHANGED, detail)
    digest = file_xxh128(source, progress)
    if digest != delivery.xxh128.lower():
        return Check(delivery, Status.CHANGED, f"xxh128 {digest}, delivered {delivery.xxh128}")
    return Check(delivery, Status.OK)


def verify_deliveries(
    deliveries: Iterable[Delivery], watch_path: Path, progress: Progress | None = None
) -> list[Check]:
    """Check each path's newest delivery against its source ``<watch_path>/<rel path>``.

    Args:
        deliveries: the deliveries to check (several of one path: the newest counts).
        watch_path: the watch folder the paths are relative to.
        progress: called with the bytes read, block by block.

    Returns:
        One :class:`Check` per path, in path order.

    Raises:
        OSError: a source exists but cannot be read (permissions, I/O error).
    """
    return [_check(watch_path, d, progress) for d in latest_per_path(deliveries)]
