"""What is already in a shot folder: a completed upload of the same file, the version stack.

* :func:`find_uploaded` makes uploads idempotent: a completed file of the same name (NFC) and
  size in the shot folder or one of its version stacks means there is nothing to send;
* :func:`add_to_version_stack` puts a new version on the shot's stack, or builds the stack
  from the loose versions (Frame.io version stacks, ``version_stacks.create`` / ``files.move``:
  https://next.developer.frame.io/platform/api-reference/version-stacks/index);
* :func:`folder_lock` serialises both per folder on the configured lock manager
  (:mod:`tasks.locks`), so threads, processes and workers agree.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager

from blocks.frameio_project import Asset, FrameioProject
from config.settings import PostflowSettings
from core.errors import NamingError
from tasks.locks import held, lock_manager_for
from tasks.naming import Nomenclature, ShotName
from tasks.runtime import current_runtime

__all__ = ["LockFactory", "add_to_version_stack", "find_uploaded", "folder_lock"]

LockFactory = Callable[[str], AbstractContextManager[None]]
"""``lock(key)`` -> a context manager holding the lock named ``key``."""


def _local_lock(key: str) -> AbstractContextManager[None]:
    return current_runtime().lock(key)  # type: ignore[return-value]


def folder_lock(settings: PostflowSettings) -> LockFactory:
    """``lock(key)`` context managers on the configured lock manager (:mod:`tasks.locks`).

    Args:
        settings: ``lock_manager`` (and its directory or Redis URL) are read.

    Returns:
        A factory; every thread, process or worker uploading into a shot folder agrees on it.

    Raises:
        ConfigurationError: a Redis lock manager is asked for but prefect-redis is missing.
    """
    manager = lock_manager_for(settings)
    return lambda key: held(manager, key)


def _same_name(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def find_uploaded(
    project: FrameioProject, folder_id: str, name: str, size_bytes: int
) -> tuple[Asset | None, str | None]:
    """Find a completed file ``name`` of ``size_bytes`` in the folder or its version stacks.

    Same-name placeholders that never received their bytes (status ``created``) are deleted,
    so the next upload starts clean.

    Args:
        project: the Frame.io project.
        folder_id: the shot folder.
        name: the file name (compared NFC-normalised).
        size_bytes: the source's size in bytes.

    Returns:
        ``(asset, version_stack_id)``; ``(None, None)`` when not found.

    Raises:
        FrameioError: listing or deleting failed.
    """
    children = project.list_children(folder_id)
    candidates: list[tuple[Asset, str | None]] = [(c, None) for c in children if c.type == "file"]
    for stack in (c for c in children if c.type == "version_stack"):
        candidates += [(v, stack.id) for v in project.list_versions(stack.id)]
    for asset, stack_id in candidates:
        if not _same_name(asset.name, name):
            continue
        if asset.status == "created":
            project.delete_file(asset.id)
        elif asset.file_size == size_bytes:
            return asset, stack_id
    return None, None


def _shot_key(nomenclature: Nomenclature, name: str) -> tuple[str, str, int] | None:
    try:
        parsed = nomenclature.parse(name)
    except NamingError:
        return None
    return parsed.scene, parsed.shot, parsed.version


def add_to_version_stack(
    project: FrameioProject,
    folder_id: str,
    file: Asset,
    shot: ShotName,
    nomenclature: Nomenclature,
    lock: LockFactory | None = None,
) -> str | None:
    """Put ``file`` into the shot's version stack, creating the stack when other versions exist.

    A stack already in the folder receives the file (``files.move``; it becomes the head). Else
    the loose, completed versions of the same scene/shot are stacked oldest-first by version
    number (``version_stacks.create`` takes 2-10 files).

    Args:
        project: the Frame.io project.
        folder_id: the shot folder.
        file: the uploaded (or already present) file.
        shot: its parsed name (scene and shot select the other versions).
        nomenclature: rules to parse the other files' names.
        lock: serialises stacking per folder (:func:`folder_lock`); in-process when None.

    Returns:
        The version stack id, or None when this is the shot's only version.

    Raises:
        FrameioError: listing, moving or creating failed.
    """
    with (lock or _local_lock)(f"stack:{folder_id}"):
        children = project.list_children(folder_id)
        stacks = sorted(
            (c for c in children if c.type == "version_stack"), key=lambda a: a.created_at
        )
        loose = {c.id for c in children if c.type == "file"}
        if stacks:
            if file.id in loose:  # else a concurrent ingest already stacked it
                project.move_file(file.id, stacks[0].id)
            return stacks[0].id
        versions: list[tuple[int, Asset]] = []
        for child in children:
            if child.type != "file" or child.status == "created":
                continue
            key = _shot_key(nomenclature, child.name)
            if key is not None and key[:2] == (shot.scene, shot.shot):
                versions.append((key[2], child))
        if len(versions) < 2:
            return None
        ordered = [a.id for _, a in sorted(versions, key=lambda v: (v[0], v[1].created_at))]
        return project.create_version_stack(folder_id, ordered[-10:]).id
