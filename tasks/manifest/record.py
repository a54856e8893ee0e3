"""Record a delivery after an upload, and write the pending ones into the MHL history.

:func:`record_delivery` adds one row to the state store (never reading the source: the upload
hashed it in the same read that sent it). :func:`write_pending` writes every delivery not yet
in the history as one generation, under the store's lease (:class:`DeliveryLog`): after an
ingest when the last generation is older than ``manifest_batch_seconds`` (``due_only``), and
always from ``postflow manifest`` and the weekly report. A history write that fails leaves the
rows pending: the next call writes them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

from blocks.store import open_store
from config.sections.watch import WatchSettings
from config.settings import PostflowSettings
from tasks.manifest.deliveries import Delivery, DeliveryLog
from tasks.manifest.history import manifest_root, write_generation
from tasks.upload.job import UploadResult

__all__ = ["Written", "delivery_of", "record_delivery", "relative_path", "write_pending"]


@dataclass(frozen=True)
class Written:
    """The outcome of :func:`write_pending`.

    Attributes:
        root: the history's root folder.
        generation: the generation written, None when nothing was.
        file: its .mhl file (None when nothing was written).
        deliveries: how many deliveries it records (0: nothing written).
        reason: why nothing was written ("" when something was).
    """

    root: Path
    generation: int | None = None
    file: Path | None = None
    deliveries: int = 0
    reason: str = ""


def relative_path(path: str, watch_path: Path) -> str | None:
    """``path`` relative to the watch folder with POSIX separators; None when outside it."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(watch_path))
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return None
    return PurePath(relative).as_posix()


def delivery_of(
    settings: WatchSettings, path: str, result: UploadResult, now: float | None = None
) -> Delivery | None:
    """The delivery an upload made, or None when it is not one: skipped (already in
    Frame.io), no fingerprint (checksums off), or a source outside the watch folder."""
    if result.strategy == "skipped" or not result.fingerprint:
        return None
    rel_path = relative_path(path, Path(settings.watch_path))
    if rel_path is None:
        return None
    return Delivery(
        rel_path,
        result.size_bytes,
        result.mtime_ns,
        result.fingerprint.lower(),
        result.file_id,
        result.view_url,
        time.time() if now is None else now,
    )


def record_delivery(
    settings: PostflowSettings, path: str, result: UploadResult, now: float | None = None
) -> Delivery | None:
    """Record the upload of ``path`` as a pending delivery of its production.

    Args:
        settings: the production's settings (store, watch folder).
        path: the source's absolute path.
        result: what the upload did (its ``fingerprint``, ``mtime_ns``, ``file_id``...).
        now: the delivery time (Unix seconds; default: now).

    Returns:
        The delivery, or None when the upload is not one (see :func:`delivery_of`).

    Raises:
        StateStoreError: the store cannot be written.
    """
    delivery = delivery_of(settings, path, result, now)
    if delivery is not None:
        DeliveryLog(open_store(settings)).record(delivery)
    return delivery


def _newest_per_path(pending: list[Delivery]) -> list[Delivery]:
    """One delivery per path, the newest (a re-render sent before the history was written)."""
    newest: dict[str, Delivery] = {}
    for delivery in pending:  # oldest first
        newest[delivery.rel_path] = delivery
    return sorted(newest.values(), key=lambda d: (d.delivered_at, d.file_id))


def write_pending(
    settings: PostflowSettings, *, due_only: bool = False, now: float | None = None
) -> Written:
    """Write the production's pending deliveries into its MHL history as one generation.

    Args:
        settings: the production's settings (store, ``manifest_dir``, batch interval).
        due_only: write only when no generation exists yet or the newest is older than
            ``settings.manifest_batch_seconds`` (an ingest's call).
        now: the time to compare with (Unix seconds; default: now).

    Returns:
        What was written (``generation`` None and ``reason`` set when nothing was).

    Raises:
        StateStoreError: the store cannot be read or written.
        ManifestError: the history cannot be read or written (the rows stay pending).
    """
    now = time.time() if now is None else now
    root = manifest_root(settings)
    log = DeliveryLog(open_store(settings))
    state = log.state()
    recent = (
        state.written_at is not None and now - state.written_at < settings.manifest_batch_seconds
    )
    if due_only and recent:
        return Written(root, reason="not due")
    if not log.listed(pending_only=True):
        return Written(root, reason="nothing pending")
    if not log.claim(now):
        return Written(root, reason="another process is writing it")
    written: tuple[int, str, list[str]] | None = None
    try:
        pending = log.listed(pending_only=True)  # again, under the lease
        if pending:
            number, file = write_generation(root, _newest_per_path(pending))
            written = (number, str(file), [d.file_id for d in pending])
    finally:
        log.release(written)
    if written is None:
        return Written(root, reason="nothing pending")
    return Written(root, written[0], Path(written[1]), len(written[2]))
