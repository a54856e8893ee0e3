"""Checkpoints of multipart uploads, so a large render resumes instead of starting over.

Per upload, in the state store every machine shares (:mod:`blocks.store`): the source (path
relative to the watch folder, size, mtime), the Frame.io file id and folder, its ``media_type``,
the part URLs with their sizes, the URLs' earliest expiry, and per stored part its XXH3-128.

**When an upload resumes** (:func:`decide`; a checkpoint whose part list cannot be read is
restarted first): whatever starts the file again (a Prefect retry,
a rerun, the next ``postflow up`` after a crash, ``postflow ingest``) finds the checkpoint and
sends only the parts not stored yet when *all* of these hold, else it deletes that Frame.io
file and starts over, logging the rule that decided:

1. the shot folder is the same;
2. the source has the same size and modification time;
3. every part URL is valid for :data:`URL_MARGIN_SECONDS` more (S3 presigned URLs carry
   ``X-Amz-Date`` + ``X-Amz-Expires``; Frame.io does not document their lifetime, and has no
   call to issue new ones for an existing file, so an expired set means a new file);
4. Frame.io still has the file and it is not complete (``files.show_file_upload_status``).

Frame.io does not say which parts it received (no V4 call exposes it), so a part counts as
stored only once its PUT was answered 2xx, and it is recorded right then.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete, select

from blocks.frameio_project import FrameioProject
from blocks.part_uploader import Part
from blocks.store import StateStore
from blocks.store import tables as t
from core.errors import FrameioNotFound
from tasks.upload.identity import source_key

__all__ = ["URL_MARGIN_SECONDS", "Checkpoint", "Checkpoints", "decide", "url_expiry"]

URL_MARGIN_SECONDS = 60.0
"""A resumed upload needs its URLs valid at least this much longer (seconds): S3 checks the
expiry when a PUT arrives, so each remaining part must start before it."""


def url_expiry(url: str) -> float | None:
    """When a SigV4 pre-signed URL expires: ``X-Amz-Date`` + ``X-Amz-Expires``, Unix seconds.

    Source: AWS "Authenticating Requests: Using Query Parameters (SigV4)". Returns None when
    the URL carries neither (its lifetime is then unknown).
    """
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed.timestamp() + float(query["X-Amz-Expires"][0])
    except (KeyError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Checkpoint:
    """A multipart upload in progress.

    Attributes:
        file_id: the Frame.io file being filled.
        folder_id: its folder.
        size_bytes / mtime_ns: the source as it was when the upload began.
        media_type: the ``Content-Type`` of every part PUT.
        parts: the parts as laid over the file.
        expires_at: the earliest URL expiry (Unix seconds), None when unknown.
        done: part number -> XXH3-128 hex of the parts stored.
    """

    file_id: str
    folder_id: str
    size_bytes: int
    mtime_ns: int
    media_type: str
    parts: Sequence[Part]
    expires_at: float | None
    done: dict[int, str] = field(default_factory=dict)

    @property
    def done_bytes(self) -> int:
        """Bytes of the parts already stored."""
        return sum(p.size for p in self.parts if p.number in self.done)


def _parts(stored: str) -> list[Part]:
    """The parts as stored (``[[size, url], ...]``); [] when the row cannot be read (a damaged
    store): :func:`decide` then restarts the upload, deleting its Frame.io file."""
    offset, parts = 0, []
    try:
        for number, (size, url) in enumerate(json.loads(stored), start=1):
            parts.append(Part(number, offset, int(size), str(url)))
            offset += int(size)
    except (ValueError, TypeError):
        return []
    return parts


class Checkpoints:
    """The checkpoints of one installation and production (rows in the state store).

    Args:
        store: the state store.
        root: the watch folder; a source under it is keyed by its relative path, as
            :class:`tasks.upload.identity.UploadRecords` does, so every machine agrees.

    Every method raises :class:`core.errors.StateStoreError` when the store fails.
    """

    def __init__(self, store: StateStore, root: Path | None = None) -> None:
        self.store = store
        self.root = None if root is None else os.path.abspath(root)

    def _key(self, source: str) -> str:
        return source_key(self.root, source)

    def get(self, source: str) -> Checkpoint | None:
        """The checkpoint of ``source`` (an absolute path), or None."""
        c = t.upload_checkpoints.c
        query = select(t.upload_checkpoints).where(
            self.store.where(t.upload_checkpoints), c.source == self._key(source)
        )
        with self.store.read() as db:
            row = db.execute(query).first()
            if row is None:
                return None
            p = t.upload_checkpoint_parts.c
            done = db.execute(
                select(p.part, p.digest).where(
                    self.store.where(t.upload_checkpoint_parts), p.file_id == row.file_id
                )
            ).all()
        return Checkpoint(
            row.file_id,
            row.folder_id,
            row.size_bytes,
            row.mtime_ns,
            row.media_type,
            _parts(row.parts),
            row.expires_at,
            {number: digest for number, digest in done},
        )

    def start(
        self,
        source: str,
        stat: os.stat_result,
        file_id: str,
        folder_id: str,
        media_type: str,
        parts: Sequence[Part],
    ) -> Checkpoint:
        """Record a new upload of ``source`` (replacing any older checkpoint of it)."""
        expiries = [e for e in (url_expiry(p.url) for p in parts) if e is not None]
        checkpoint = Checkpoint(
            file_id,
            folder_id,
            stat.st_size,
            stat.st_mtime_ns,
            media_type,
            parts,
            min(expiries) if expiries else None,
        )
        values = {
            "source": self._key(source),
            "size_bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "file_id": file_id,
            "folder_id": folder_id,
            "media_type": media_type,
            "parts": json.dumps([[p.size, p.url] for p in parts]),
            "expires_at": checkpoint.expires_at,
            "created_at": time.time(),
        }
        with self.store.write() as db:
            db.execute(self.store.upsert(t.upload_checkpoints, values))
        return checkpoint

    def part_done(self, file_id: str, number: int, digest: str) -> None:
        """Record that part ``number`` of ``file_id`` is stored, with its XXH3-128 hex."""
        values = {"file_id": file_id, "part": number, "digest": digest, "done_at": time.time()}
        with self.store.write() as db:
            db.execute(self.store.upsert(t.upload_checkpoint_parts, values))

    def drop(self, source: str, file_id: str) -> None:
        """Forget the checkpoint of ``source`` and the parts of ``file_id``."""
        c, p = t.upload_checkpoints.c, t.upload_checkpoint_parts.c
        with self.store.write() as db:
            db.execute(
                delete(t.upload_checkpoints).where(
                    self.store.where(t.upload_checkpoints),
                    c.source == self._key(source),
                    c.file_id == file_id,
                )
            )
            db.execute(
                delete(t.upload_checkpoint_parts).where(
                    self.store.where(t.upload_checkpoint_parts), p.file_id == file_id
                )
            )


def decide(
    project: FrameioProject,
    checkpoint: Checkpoint,
    folder_id: str,
    stat: os.stat_result,
    now: float | None = None,
) -> tuple[str, str]:
    """Whether to resume ``checkpoint`` (see the module doc for the rules, in order).

    Returns:
        ``(verdict, rule)``: verdict ``"resume"``; ``"restart"`` (delete the file, start over);
        ``"gone"`` (Frame.io no longer has the file: start over, nothing to delete); or
        ``"complete"`` (Frame.io has every part: nothing to delete or send again). ``rule``
        says why, for the log.

    Raises:
        FrameioError: the upload status could not be read (other than 404).
    """
    now = time.time() if now is None else now
    if sum(p.size for p in checkpoint.parts) != checkpoint.size_bytes or not checkpoint.parts:
        return "restart", "its checkpoint's part list cannot be read"
    if checkpoint.folder_id != folder_id:
        return "restart", "the shot folder is not the one the parts went to"
    if (checkpoint.size_bytes, checkpoint.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        return "restart", "the source changed since its parts were sent"
    if checkpoint.expires_at is not None and checkpoint.expires_at - URL_MARGIN_SECONDS < now:
        when = datetime.fromtimestamp(checkpoint.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return "restart", f"its part URLs expire{'d' if checkpoint.expires_at < now else ''} {when}"
    try:
        status = project.upload_status(checkpoint.file_id)
    except FrameioNotFound:
        return "gone", "Frame.io no longer has the file"
    if status.upload_complete:
        return "complete", "Frame.io already has every part"
    if status.upload_failed:
        return "restart", "Frame.io reports the upload failed"
    return "resume", f"{len(checkpoint.done)} of {len(checkpoint.parts)} parts already stored"
