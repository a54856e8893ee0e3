"""File identity: is this source already in Frame.io, by content rather than by name and size?

Every upload is recorded in the state store's ``uploads`` table (:mod:`blocks.store`): source
path -> ``(size, mtime_ns, fingerprint, Frame.io file id)``, the fingerprint being the XXH3-128
computed in the same read that sent the bytes (:func:`tasks.upload.source.file_fingerprint`).
:func:`identify` decides, given the completed files of the same name in the shot folder
(:func:`same_name_files`):

* no file of that name: upload;
* the record's file is still there and the source has the recorded size and mtime: skip;
* the record's file is still there but the source changed on disk: fingerprint it (one read);
  the same fingerprint is a skip (the file was only touched), another is a **re-render**:
  uploaded as a new version on top of the shot's stack, the earlier one keeping its comments;
* the record's file is still there, the source grew and the recorded fingerprint is that of
  the source's first ``record.size_bytes``: the earlier upload was a **partial** file (a
  writer paused past the settle window, then appended): the complete file is uploaded and the
  partial one is deleted from Frame.io, so one complete file per version remains;
* no usable record (first run on an existing project, another machine's upload, the recorded
  file deleted in Frame.io): name and size decide as before - a file of the same name and size
  is adopted (recorded with an unknown fingerprint, so a later rewrite counts as a
  re-render), any other size is a re-render.

Frame.io v4 has no clean place for the fingerprint: ``files.update`` takes only ``name``, and
custom metadata needs an account-level field definition (``metadata_fields``, admin rights,
10 calls/min) plus ``metadata.bulk_update`` (10 calls/min), which the sandbox does not serve;
so it stays in the record. With the store on PostgreSQL every machine reads the same records,
keyed by the path relative to the watch folder (each machine may mount it elsewhere): a
same-size re-render that machine B picks up after machine A sent V001 is compared with A's
fingerprint and goes up as a new version, instead of being taken for A's file by its size.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from blocks.frameio_project import Asset, FrameioProject
from blocks.store import StateStore
from blocks.store import tables as t
from tasks.structure.listings import FolderListing

__all__ = [
    "Found",
    "Identity",
    "UploadRecord",
    "UploadRecords",
    "identify",
    "same_name_files",
    "source_key",
]

Found = tuple[Asset, str | None]
"""A completed file in the shot folder and the id of the version stack it sits in (or None)."""


@dataclass(frozen=True)
class UploadRecord:
    """What was last sent (or adopted) from one source path.

    Attributes:
        size_bytes: the source's size then, in bytes.
        mtime_ns: its modification time then, in nanoseconds.
        fingerprint: XXH3-128 hex of its bytes; "" when unknown (adopted by name and size,
            or sent with ``checksum=False``).
        file_id: the Frame.io file holding those bytes.
    """

    size_bytes: int
    mtime_ns: int
    fingerprint: str
    file_id: str


def source_key(root: str | None, source: str) -> str:
    """How a source is keyed in the state store: its path relative to the watch folder
    ``root`` (absolute) when under it, the same on every machine whatever its mount point;
    else its absolute path. Stored through :func:`blocks.store.tables.encode_text`."""
    if root is not None:
        relative = os.path.relpath(source, root)
        if relative.split(os.sep)[0] != os.pardir:  # a name such as "..SC01.mov" is inside
            return t.encode_text(relative)
    return t.encode_text(source)


class UploadRecords:
    """The upload records of an installation's production, in the state store.

    Args:
        store: the state store (its scope: the installation and production).
        root: the watch folder; a source under it is recorded by its path relative to it
            (the same on every machine), any other by its absolute path.
    """

    def __init__(self, store: StateStore, root: Path | None = None) -> None:
        self.store = store
        self.root = None if root is None else os.path.abspath(root)

    def _key(self, source: str) -> str:
        return source_key(self.root, source)

    def get(self, source: str) -> UploadRecord | None:
        """The record of ``source`` (an absolute path), or None. A record an earlier version
        made under the absolute path is found too.

        Raises:
            StateStoreError: the store cannot be read (an ``OSError``).
        """
        keys = {self._key(source), t.encode_text(source)}
        columns = t.uploads.c
        query = select(
            columns.source,
            columns.size_bytes,
            columns.mtime_ns,
            columns.fingerprint,
            columns.file_id,
        ).where(self.store.where(t.uploads), columns.source.in_(keys))
        with self.store.read() as db:
            rows = {row.source: row for row in db.execute(query)}
        row = rows.get(self._key(source)) or rows.get(t.encode_text(source))
        return None if row is None else UploadRecord(*row[1:])

    def put(self, source: str, record: UploadRecord) -> None:
        """Record (or replace) what ``source`` is in Frame.io.

        Raises:
            StateStoreError: the store cannot be written (an ``OSError``).
        """
        values = {**asdict(record), "source": self._key(source), "updated_at": time.time()}
        with self.store.write() as db:
            db.execute(self.store.upsert(t.uploads, values))


def _same_name(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def same_name_files(
    project: FrameioProject,
    listing: FolderListing,
    name: str,
    resumable: frozenset[str] = frozenset(),
) -> tuple[list[Found], FolderListing]:
    """The completed files called ``name`` in the folder or its version stacks, oldest first.

    ``listing`` is the shot folder as just listed (:func:`tasks.structure.listings.read_listing`);
    a stack whose files it does not hold is listed (``version_stacks.index``). A match found
    only among stored stack files is confirmed by listing that stack, so a file someone
    deleted is never taken for present. Same-name placeholders that never received their
    bytes (status ``created``) are deleted, so the next upload starts clean, except the ones
    in ``resumable`` (an upload checkpoint will continue them: :mod:`tasks.upload.checkpoint`).

    Args:
        project: the Frame.io project.
        listing: the shot folder (:class:`tasks.structure.listings.FolderListing`).
        name: the file name (compared NFC-normalised).
        resumable: ids of unfinished files to leave alone.

    Returns:
        ``([(file, version_stack_id or None), ...] sorted by created_at, the listing with
        what was listed or deleted recorded)``.

    Raises:
        FrameioError: listing or deleting failed.
    """
    for stack in listing.stacks():
        files = listing.members.get(stack.id)
        if files is None or any(_same_name(f.name, name) for f in files):
            listing = listing.with_members(stack.id, project.list_versions(stack.id))
    candidates: list[Found] = [(c, None) for c in listing.loose_files()]
    for stack in listing.stacks():
        candidates += [(v, stack.id) for v in listing.members[stack.id]]
    found: list[Found] = []
    for asset, stack_id in candidates:
        if not _same_name(asset.name, name):
            continue
        if asset.status == "created":
            if asset.id in resumable:
                continue
            project.delete_file(asset.id)
            listing = listing.removed(asset.id)
        else:
            found.append((asset, stack_id))
    return sorted(found, key=lambda f: (f[0].created_at, f[0].id)), listing


@dataclass(frozen=True)
class Identity:
    """What :func:`identify` decided.

    Attributes:
        existing: the file that already holds the source's bytes (skip), or None (upload).
        re_render: a file of the same name is there with other content.
        fingerprint: the source's fingerprint when known without uploading, else "".
        adopt: ``existing`` was matched by name and size only; record it.
        superseded: a partial upload of this source (its prefix) to delete once the complete
            file is in.
    """

    existing: Found | None
    re_render: bool = False
    fingerprint: str = ""
    adopt: bool = False
    superseded: Found | None = None


def identify(
    found: list[Found],
    stat: os.stat_result,
    record: UploadRecord | None,
    fingerprint: Callable[[], str],
    prefix_fingerprint: Callable[[int], str] = lambda _size: "",
) -> Identity:
    """Decide whether the source is already in Frame.io (see the module doc).

    Args:
        found: :func:`same_name_files` of the source's name.
        stat: the source's stat (``st_size`` bytes, ``st_mtime_ns``).
        record: the source path's :class:`UploadRecord`, or None.
        fingerprint: reads the source and returns its fingerprint (called only when the
            source changed since its record and the record's fingerprint is known).
        prefix_fingerprint: the fingerprint of the source's first N bytes (called only when
            the source grew since its record).

    Returns:
        The :class:`Identity`.

    Raises:
        OSError: ``fingerprint`` could not read the source.
    """
    if not found:
        return Identity(None)
    known = None if record is None else next((f for f in found if f[0].id == record.file_id), None)
    if record is not None and known is not None:
        if (record.size_bytes, record.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return Identity(known, fingerprint=record.fingerprint)
        if record.fingerprint and record.size_bytes == stat.st_size:
            current = fingerprint()
            if current == record.fingerprint:
                return Identity(known, fingerprint=current, adopt=True)
            return Identity(None, re_render=True, fingerprint=current)
        grew = record.fingerprint and record.size_bytes < stat.st_size
        if grew and prefix_fingerprint(record.size_bytes) == record.fingerprint:
            return Identity(None, superseded=known)
        return Identity(None, re_render=True)
    same_size = [f for f in found if f[0].file_size == stat.st_size]
    if same_size:
        return Identity(same_size[-1], adopt=True)
    return Identity(None, re_render=True)
