"""The shot's version stack, in version order whatever order files arrive in.

* :func:`add_to_version_stack` puts a new version on the shot's stack, or builds the stack
  from the loose versions, and keeps the highest version on top (Frame.io version stacks,
  ``version_stacks.create`` / ``files.move``:
  https://next.developer.frame.io/platform/api-reference/version-stacks/index);
* :func:`folder_lock` serialises stacking (and the look-up of what is already uploaded,
  :mod:`.identity`) per folder on the configured lock manager (:mod:`tasks.locks`), so
  threads, processes and workers agree.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from blocks.frameio_project import Asset, FrameioProject
from config.settings import PostflowSettings
from core.errors import FrameioTransientError, NamingError
from tasks.locks import held, lock_manager_for
from tasks.naming import Nomenclature, ShotName
from tasks.runtime import current_runtime
from tasks.upload.logs import upload_logger

__all__ = ["LockFactory", "add_to_version_stack", "folder_lock"]

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


_StackKey = tuple[int, str, str]
"""Where a file belongs in its stack: ``(version, created_at, id)``, ascending = bottom to top."""


def _stack_key(nomenclature: Nomenclature, shot: ShotName, asset: Asset) -> _StackKey | None:
    """The file's place in the shot's stack; None when its name is another shot's or no rule's
    (a re-render of one version sits above the earlier upload: ``created_at`` breaks ties)."""
    try:
        parsed = nomenclature.parse(asset.name)
    except NamingError:
        return None
    if (parsed.scene, parsed.shot) != (shot.scene, shot.shot):
        return None
    return parsed.version, asset.created_at, asset.id


@dataclass(frozen=True)
class _ShotFolder:
    """One read of a shot folder, as stacking needs it.

    Attributes:
        stack: the shot's stack (the oldest when there are several), or None.
        members: ``(key, file)`` of the files in ``stack``; unparsed names get version -1.
        strays: ``(key, file)`` of this shot's completed files outside ``stack``: loose in
            the folder, or in a newer duplicate stack.
    """

    stack: Asset | None
    members: list[tuple[_StackKey, Asset]]
    strays: list[tuple[_StackKey, Asset]]


def _read_shot_folder(
    project: FrameioProject, folder_id: str, shot: ShotName, nomenclature: Nomenclature
) -> _ShotFolder:
    children = project.list_children(folder_id)
    stacks = sorted((c for c in children if c.type == "version_stack"), key=lambda a: a.created_at)
    outside = [c for c in children if c.type == "file" and c.status != "created"]
    for other in stacks[1:]:
        outside += project.list_versions(other.id)
    strays = [(k, a) for a in outside if (k := _stack_key(nomenclature, shot, a)) is not None]
    members: list[tuple[_StackKey, Asset]] = []
    if stacks:
        for asset in project.list_versions(stacks[0].id):
            key = _stack_key(nomenclature, shot, asset) or (-1, asset.created_at, asset.id)
            members.append((key, asset))
    return _ShotFolder(stacks[0] if stacks else None, members, sorted(strays))


def _create_stack(project: FrameioProject, folder_id: str, files: list[Asset]) -> str:
    """Stack ``files`` (ascending) in one ``version_stacks.create`` of up to 10; the rest move
    in one by one, each on top."""
    stack_id = project.create_version_stack(folder_id, [a.id for a in files[:10]]).id
    for asset in files[10:]:
        project.move_file(asset.id, stack_id)
    return stack_id


def _raise_above(
    project: FrameioProject,
    folder_id: str,
    stack_id: str,
    files: list[tuple[_StackKey, Asset]],
    head: _StackKey,
) -> int:
    """Put every file ranked above ``head`` back on top, in ascending order.

    The SDK has no reorder call: each such file moves out to the shot folder, then back into
    the stack (a file moved into a stack goes on top). ``head`` stays in, so the stack never
    empties. Returns the number of files re-stacked.
    """
    above = sorted((k, a) for k, a in files if k > head)
    for _, asset in above:
        project.move_file(asset.id, folder_id)
    for _, asset in above:
        project.move_file(asset.id, stack_id)
    return len(above)


@dataclass(frozen=True)
class _Arranged:
    """What one pass did.

    Attributes:
        stack_id: the shot's stack, or None when it has a single version.
        expected_head_id: the highest-ranked file, which must now be the head.
        changed: the pass moved or stacked something (else the read it made is the state).
    """

    stack_id: str | None
    expected_head_id: str | None = None
    changed: bool = False


def _arrange(
    project: FrameioProject, folder_id: str, shot: ShotName, nomenclature: Nomenclature
) -> _Arranged:
    """One pass: stack the shot's strays and make its highest version the head."""
    found = _read_shot_folder(project, folder_id, shot, nomenclature)
    everything = found.members + found.strays
    highest = max(everything)[1].id if everything else None
    if found.stack is None:
        if len(found.strays) < 2:
            return _Arranged(None)
        stack_id = _create_stack(project, folder_id, [a for _, a in found.strays])
        return _Arranged(stack_id, highest, changed=True)
    stack_id = found.stack.id
    for _, asset in found.strays:  # ascending: the last one ends on top
        project.move_file(asset.id, stack_id)
    if found.strays:
        head: _StackKey | None = found.strays[-1][0]
    else:  # an unknown head ranks lowest: everything is re-stacked in order
        head_id = found.stack.head_version_id
        head = next((k for k, a in found.members if a.id == head_id), None)
        if head is None and found.members:
            head = min(found.members)[0]
    raised = _raise_above(project, folder_id, stack_id, everything, head) if head else 0
    return _Arranged(stack_id, highest, changed=bool(found.strays) or raised > 0)


def _head_is_highest(project: FrameioProject, arranged: _Arranged) -> bool:
    """Whether the stack's head is the highest version the pass ranked.

    A pass that changed nothing read the stack as it is: its head was already the highest,
    no call needed. Otherwise one ``version_stacks.show`` reads the head back: the moves'
    result (a file moved into a stack goes on top) is checked, not assumed.
    """
    if arranged.stack_id is None or not arranged.changed:
        return True
    head_id = project.show_version_stack(arranged.stack_id).head_version_id
    return head_id == arranged.expected_head_id


def add_to_version_stack(
    project: FrameioProject,
    folder_id: str,
    file: Asset,
    shot: ShotName,
    nomenclature: Nomenclature,
    lock: LockFactory | None = None,
) -> str | None:
    """Make the shot's version stack hold its versions, the highest version on top.

    Holding the folder's stack lock, the folder is read again, then: without a stack, two or
    more completed versions are stacked in version order (``version_stacks.create`` keeps the
    request's order, the last is the head); with a stack, the shot's files outside it (``file``,
    and any left loose by a crash or in a duplicate stack) move in, each on top, lowest first,
    and then every member ranked above the new head moves out to the folder and back in,
    lowest first. Rank is ``(version, created_at)``, versions parsed with ``nomenclature``.
    The head is then read back (``version_stacks.show``); if another writer changed the stack
    meanwhile, the pass runs once more. Frame.io's SDK 4.0.0 has no reorder call; the moves
    are what it offers (FIDELITY.md in :mod:`postflow.sandbox`).

    Args:
        project: the Frame.io project.
        folder_id: the shot folder.
        file: the uploaded (or already present) file; it is stacked with the others.
        shot: its parsed name (scene and shot select the other versions).
        nomenclature: rules to parse the other files' names.
        lock: serialises stacking per folder (:func:`folder_lock`); in-process when None.

    Returns:
        The version stack id, or None when this is the shot's only version.

    Raises:
        FrameioError: listing, moving or creating failed.
        FrameioTransientError: the head was still not the highest version after two passes
            (someone else keeps reordering the stack); a retry runs the passes again.
    """
    with (lock or _local_lock)(f"stack:{folder_id}"):
        for attempt in (1, 2):
            arranged = _arrange(project, folder_id, shot, nomenclature)
            stack_id = arranged.stack_id
            if _head_is_highest(project, arranged):
                return stack_id
            upload_logger().warning(
                "%s: stack %s changed under us (pass %d); ordering it again",
                file.name,
                stack_id,
                attempt,
            )
    raise FrameioTransientError(
        "version_stacks.show",
        f"the head of stack {stack_id} is not the highest version after two passes",
    )
