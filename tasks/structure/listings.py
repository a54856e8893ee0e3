"""Folder listings our writers share, so a look-up a listing already answers costs no call.

Frame.io v4 lists a folder's children with ``folders.index`` (files, folders and version
stacks, each stack with its ``head_version``) and a stack's files with
``version_stacks.index``; both are limited to 100 calls a minute per account
(``shared/notes/frameio-v4.md``, rate limits). A :class:`FolderListing` is one folder's answer,
kept up to date by the changes our own writers make under the folder's lock (a folder
created, a file uploaded, a stack made, a file moved), and kept in a :class:`ListingStore`
that every thread, process or worker sharing the lock manager reads:

* **structure**: ``SCENES`` is listed once; every scene created after that is added to the
  listing, so the next new scene is known absent without another listing
  (:func:`tasks.structure.folders.ensure_child_folder`);
* **shot folders**: the identity check lists the shot folder before every upload (the one
  fresh read per file), and the listing carries the files of the stacks our writers built,
  so the stack need not be listed; after the transfer, stacking starts from the stored
  listing (which holds what other writers did meanwhile) instead of listing again.

What a listing cannot see is a change made outside our writers (a person in the web app).
Where that matters it is bounded: a listing is reused for ``folder_listing_ttl_seconds`` at
most (counted from the last real listing); the stack files it holds are trusted only while
the fresh listing shows the same stack with the same head; a file found only through stored
stack files is confirmed by listing the stack before anything is skipped; and a call that
fails because the listing was wrong (a file someone deleted) drops it, so the next pass
lists again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from blocks.frameio_project import Asset, FrameioProject
from config.settings import PostflowSettings
from core.errors import ConfigurationError
from core.runtime import current_runtime
from tasks.platform.state_file import read_json, write_json_atomic

__all__ = ["FolderListing", "ListingStore", "listing_lock_key", "read_listing"]


def listing_lock_key(folder_id: str) -> str:
    """The lock-manager key that guards ``folder_id``'s stored listing and the changes our
    writers make in that folder (look-then-create, stacking)."""
    return f"stack:{folder_id}"


@dataclass(frozen=True)
class FolderListing:
    """One folder's children as our writers know them.

    Attributes:
        folder_id: the listed folder.
        children: its files, folders and version stacks (a stack's ``head_version_id`` is
            its top file).
        members: stack id -> its files bottom to top, for the stacks whose files are known.
        listed_at: wall-clock seconds (``time.time()``) of the last real listing; the changes
            our writers record do not make a listing younger.
    """

    folder_id: str
    children: tuple[Asset, ...]
    members: Mapping[str, tuple[Asset, ...]] = field(default_factory=dict)
    listed_at: float = 0.0

    @classmethod
    def fresh(
        cls, folder_id: str, children: Iterable[Asset], stored: FolderListing | None, now: float
    ) -> FolderListing:
        """A listing just read from Frame.io, with the stored stack files that still hold: a
        stack's files are kept when the fresh listing shows that stack with the same head."""
        children = tuple(children)
        heads = {c.id: c.head_version_id for c in children if c.type == "version_stack"}
        members: dict[str, tuple[Asset, ...]] = {}
        if stored is not None:
            for stack_id, files in stored.members.items():
                if files and heads.get(stack_id) == files[-1].id:
                    members[stack_id] = files
        return cls(folder_id, children, members, now)

    def stacks(self) -> list[Asset]:
        """The version stacks, oldest first."""
        stacks = (c for c in self.children if c.type == "version_stack")
        return sorted(stacks, key=lambda a: (a.created_at, a.id))

    def loose_files(self) -> list[Asset]:
        """The files directly in the folder, placeholders (``status == "created"``) included."""
        return [c for c in self.children if c.type == "file"]

    def folders(self) -> list[Asset]:
        """The sub-folders."""
        return [c for c in self.children if c.type == "folder"]

    def in_stack(self, asset_id: str) -> bool:
        """Whether ``asset_id`` is among the known files of a stack."""
        return any(f.id == asset_id for files in self.members.values() for f in files)

    def head_of(self, stack_id: str) -> str | None:
        """The head file id of ``stack_id`` as the listing has it (None: no such stack)."""
        return next((c.head_version_id for c in self.children if c.id == stack_id), None)

    def added(self, asset: Asset) -> FolderListing:
        """With ``asset`` (a new child, or a newer record of one) directly in the folder."""
        others = tuple(c for c in self.children if c.id != asset.id)
        return replace(self, children=(*others, asset))

    def removed(self, asset_id: str) -> FolderListing:
        """Without ``asset_id``, wherever it was (the folder or a known stack)."""
        children = tuple(c for c in self.children if c.id != asset_id)
        members = {s: tuple(f for f in fs if f.id != asset_id) for s, fs in self.members.items()}
        return replace(self, children=children, members=members)

    def with_members(self, stack_id: str, files: Iterable[Asset]) -> FolderListing:
        """With ``files`` (bottom to top) as the known files of ``stack_id``."""
        return replace(self, members={**self.members, stack_id: tuple(files)})

    def stacked(self, stack: Asset, files: list[Asset]) -> FolderListing:
        """After ``version_stacks.create``: ``files`` left the folder for the new ``stack``."""
        ids = {f.id for f in files}
        children = tuple(c for c in self.children if c.id not in ids)
        return replace(self, children=(*children, stack)).with_members(stack.id, files)

    def moved(self, asset: Asset, parent_id: str) -> FolderListing:
        """After ``files.move``: ``asset`` is in ``parent_id``, the folder itself or one of its
        stacks; a file moved into a stack goes on top (the sandbox's rule, which stacking
        checks once per process: :mod:`tasks.upload.stack`)."""
        listing = self.removed(asset.id)
        if parent_id == self.folder_id:
            return listing.added(asset)
        children = tuple(
            replace(c, head_version_id=asset.id) if c.id == parent_id else c
            for c in listing.children
        )
        listing = replace(listing, children=children)
        files = self.members.get(parent_id)
        if files is None:
            return listing
        return listing.with_members(parent_id, (*(f for f in files if f.id != asset.id), asset))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (:meth:`from_json` reads it back)."""
        return {
            "folder_id": self.folder_id,
            "children": [asdict(c) for c in self.children],
            "members": {s: [asdict(f) for f in fs] for s, fs in self.members.items()},
            "listed_at": self.listed_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> FolderListing | None:
        """The listing in ``data``, or None when it is not one (another shape, a corrupt file)."""
        try:
            return cls(
                str(data["folder_id"]),
                tuple(Asset(**c) for c in data["children"]),
                {s: tuple(Asset(**f) for f in fs) for s, fs in data["members"].items()},
                float(data["listed_at"]),
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            return None


class ListingStore:
    """Where the listings live, on the same footing as the lock manager
    (``settings.lock_manager``): ``file`` keeps one JSON file per folder in
    ``<state_dir>/locks/listings`` (every process of one machine), ``memory`` keeps them in
    this process, ``redis`` in Redis at ``redis_url`` (several machines).

    Callers hold the folder's lock (:func:`listing_lock_key`) around a get and its put, so
    a listing never misses a change another of our writers made.

    Args:
        settings: ``folder_listing_ttl_seconds`` (0: nothing is kept), ``lock_manager``,
            ``state_dir`` and ``redis_url`` are read.
        clock: wall-clock seconds (listings are shared between processes and machines).

    Raises:
        ConfigurationError: ``lock_manager="redis"`` without the ``redis`` package.
    """

    def __init__(self, settings: PostflowSettings, clock: Callable[[], float] = time.time):
        self.ttl_seconds = settings.folder_listing_ttl_seconds
        self.clock = clock
        self._kind = settings.lock_manager
        self._directory = settings.state_dir / "locks" / "listings"
        self._redis: Any = None
        self._errors: tuple[type[Exception], ...] = (OSError, ValueError)
        if self._kind == "redis" and self.ttl_seconds:
            try:
                import redis
            except ImportError as exc:
                raise ConfigurationError(
                    "lock_manager=redis needs `pip install prefect-redis`"
                ) from exc
            url = settings.redis_url  # one client (and connection pool) per process
            self._redis = current_runtime().cached("redis", url, lambda: redis.Redis.from_url(url))
            self._errors += (redis.RedisError,)

    def _file(self, folder_id: str) -> Any:
        return self._directory / (hashlib.sha1(folder_id.encode()).hexdigest() + ".json")

    def _read(self, folder_id: str) -> Any:
        if self._kind == "file":
            return read_json(self._file(folder_id))
        if self._kind == "redis":
            raw = self._redis.get(f"postflow:listing:{folder_id}")
            return json.loads(raw) if raw else None
        return current_runtime().registry("folder-listings").get(folder_id)

    def get(self, folder_id: str) -> FolderListing | None:
        """The stored listing of ``folder_id``, or None when there is none, it is older than
        ``folder_listing_ttl_seconds``, or it cannot be read (a reason to list, not to fail)."""
        if not self.ttl_seconds:
            return None
        try:
            listing = FolderListing.from_json(self._read(folder_id))
        except self._errors:
            return None
        if listing is None or listing.folder_id != folder_id:
            return None
        age = self.clock() - listing.listed_at
        return listing if 0 <= age < self.ttl_seconds else None

    def put(self, listing: FolderListing) -> None:
        """Store ``listing`` (a failure to store is ignored: the next reader lists again)."""
        if not self.ttl_seconds:
            return
        data = listing.to_json()
        try:
            if self._kind == "file":
                write_json_atomic(self._file(listing.folder_id), data)
            elif self._kind == "redis":
                key = f"postflow:listing:{listing.folder_id}"
                self._redis.set(key, json.dumps(data), ex=int(self.ttl_seconds))
            else:
                current_runtime().registry("folder-listings")[listing.folder_id] = data
        except self._errors:
            self.forget(listing.folder_id)

    def forget(self, folder_id: str) -> None:
        """Drop the stored listing of ``folder_id`` (it proved wrong, or a change is under way)."""
        try:
            if self._kind == "file":
                self._file(folder_id).unlink(missing_ok=True)
            elif self._kind == "redis":
                self._redis.delete(f"postflow:listing:{folder_id}")
            else:
                current_runtime().registry("folder-listings").pop(folder_id, None)
        except self._errors:
            pass


def read_listing(
    project: FrameioProject, folder_id: str, stored: FolderListing | None, now: float
) -> FolderListing:
    """List ``folder_id`` (one ``folders.index``), keeping the stored stack files that still
    hold (:meth:`FolderListing.fresh`)."""
    return FolderListing.fresh(folder_id, project.list_children(folder_id), stored, now)
