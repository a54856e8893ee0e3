"""The shot's version stack, in version order whatever order files arrive in.

* :func:`add_to_version_stack` puts a new version on the shot's stack, or builds the stack
  from the loose versions, and keeps the highest version on top (Frame.io version stacks,
  ``version_stacks.create`` / ``files.move``:
  https://next.developer.frame.io/platform/api-reference/version-stacks/index);
* stacking (and the look-up of what is already uploaded, :mod:`.identity`) runs under the
  folder's lock (:func:`tasks.platform.locks.folder_lock`), so threads, processes and workers
  agree.

Stacking starts from the shot folder's shared listing (:mod:`tasks.structure.listings`): the
identity
check listed the folder just before the transfer, and every writer since recorded what it
changed, so the usual new version costs one ``files.move`` (or one ``version_stacks.create``)
and no read.
"""

from __future__ import annotations

from dataclasses import dataclass

from blocks.frameio_project import Asset, FrameioProject
from core.errors import FrameioPermanentError, FrameioTransientError, NamingError
from core.runtime import current_runtime
from tasks.platform.locks import LockFactory, local_lock
from tasks.structure.listings import FolderListing, ListingStore, listing_lock_key, read_listing
from tasks.structure.naming import Nomenclature, ShotName
from tasks.upload.logs import upload_logger

__all__ = ["add_to_version_stack"]


def _with_all_members(project: FrameioProject, listing: FolderListing) -> FolderListing:
    """``listing`` with the files of every stack known (``version_stacks.index`` for each
    stack whose files it does not hold)."""
    for stack in listing.stacks():
        if stack.id not in listing.members:
            listing = listing.with_members(stack.id, project.list_versions(stack.id))
    return listing


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
    """A shot folder as stacking sees it.

    Attributes:
        stack: the shot's stack (the oldest when there are several), or None.
        members: ``(key, file)`` of the files in ``stack``; unparsed names get version -1.
        strays: ``(key, file)`` of this shot's completed files outside ``stack``: loose in
            the folder, or in a newer duplicate stack.
    """

    stack: Asset | None
    members: list[tuple[_StackKey, Asset]]
    strays: list[tuple[_StackKey, Asset]]


def _shot_folder(listing: FolderListing, shot: ShotName, nomenclature: Nomenclature) -> _ShotFolder:
    """Read ``listing`` (every stack's files known) as stacking needs it."""
    stacks = listing.stacks()
    outside = [c for c in listing.loose_files() if c.status != "created"]
    for other in stacks[1:]:
        outside += listing.members[other.id]
    strays = [(k, a) for a in outside if (k := _stack_key(nomenclature, shot, a)) is not None]
    members: list[tuple[_StackKey, Asset]] = []
    if stacks:
        for asset in listing.members[stacks[0].id]:
            key = _stack_key(nomenclature, shot, asset) or (-1, asset.created_at, asset.id)
            members.append((key, asset))
    return _ShotFolder(stacks[0] if stacks else None, members, sorted(strays))


class _Pass:
    """One arranging pass: the calls it makes, each recorded in the listing it carries.

    Attributes:
        listing: the shot folder after the calls made so far.
        moved_in: a file was moved into a stack (its position is what :func:`_checked`
            verifies).
    """

    def __init__(self, project: FrameioProject, listing: FolderListing) -> None:
        self.project, self.listing, self.moved_in = project, listing, False

    def move(self, asset: Asset, parent_id: str) -> None:
        self.project.move_file(asset.id, parent_id)
        self.listing = self.listing.moved(asset, parent_id)
        self.moved_in = self.moved_in or parent_id != self.listing.folder_id

    def create_stack(self, files: list[Asset]) -> str:
        """Stack ``files`` (ascending) in one ``version_stacks.create`` of up to 10; the rest
        move in one by one, each on top."""
        stack = self.project.create_version_stack(
            self.listing.folder_id, [a.id for a in files[:10]]
        )
        self.listing = self.listing.stacked(stack, files[:10])
        for asset in files[10:]:
            self.move(asset, stack.id)
        return stack.id

    def raise_above(
        self, stack_id: str, files: list[tuple[_StackKey, Asset]], head: _StackKey
    ) -> int:
        """Put every file ranked above ``head`` back on top, in ascending order.

        The SDK has no reorder call: each such file moves out to the shot folder, then back into
        the stack (a file moved into a stack goes on top). ``head`` stays in, so the stack never
        empties. Returns the number of files re-stacked.
        """
        above = sorted((k, a) for k, a in files if k > head)
        for _, asset in above:
            self.move(asset, self.listing.folder_id)
        for _, asset in above:
            self.move(asset, stack_id)
        return len(above)


def _arrange(
    step: _Pass, shot: ShotName, nomenclature: Nomenclature
) -> tuple[str | None, str | None]:
    """One pass: stack the shot's strays and make its highest version the head. Returns
    ``(stack id or None, the highest-ranked file's id or None)``."""
    found = _shot_folder(step.listing, shot, nomenclature)
    everything = found.members + found.strays
    highest = max(everything)[1].id if everything else None
    if found.stack is None:
        if len(found.strays) < 2:
            return None, highest
        return step.create_stack([a for _, a in found.strays]), highest
    stack_id = found.stack.id
    for _, asset in found.strays:  # ascending: the last one ends on top
        step.move(asset, stack_id)
    if found.strays:
        head: _StackKey | None = found.strays[-1][0]
    else:  # an unknown head ranks lowest: everything is re-stacked in order
        head_id = found.stack.head_version_id
        head = next((k for k, a in found.members if a.id == head_id), None)
        if head is None and found.members:
            head = min(found.members)[0]
    if head:
        step.raise_above(stack_id, everything, head)
    return stack_id, highest


def _checked(
    project: FrameioProject, step: _Pass, stack_id: str | None, highest: str | None
) -> bool:
    """Whether the stack's head is the highest version the pass ranked.

    The listing says what the head is after the pass: ``version_stacks.create`` answers with
    the new stack's head, and a file moved into a stack goes on top. That last rule is not in
    Frame.io's documentation (FIDELITY.md in :mod:`postflow.sandbox`), so the first pass of a
    process that moves a file into a stack reads the head back (``version_stacks.show``);
    once the rule held, later passes trust it. A head that disagrees is never trusted again
    in this process.
    """
    if stack_id is None:
        return True
    if step.moved_in:
        confirmed = current_runtime().registry("stack-semantics")
        account = getattr(project, "account_id", "")
        if confirmed.get(account) is not True:
            head_id = project.show_version_stack(stack_id).head_version_id
            confirmed[account] = head_id == step.listing.head_of(stack_id)
            if head_id != highest:
                return False
    return step.listing.head_of(stack_id) == highest


def add_to_version_stack(
    project: FrameioProject,
    folder_id: str,
    file: Asset,
    shot: ShotName,
    nomenclature: Nomenclature,
    lock: LockFactory | None = None,
    store: ListingStore | None = None,
) -> str | None:
    """Make the shot's version stack hold its versions, the highest version on top.

    Holding the folder's stack lock, the shot folder is taken from ``store`` (as the identity
    check listed it and other writers changed it since; listed again when there is none),
    then: without a stack, two or more completed versions are stacked in version order
    (``version_stacks.create`` keeps the request's order, the last is the head); with a stack,
    the shot's files outside it (``file``, and any left loose by a crash or in a duplicate
    stack) move in, each on top, lowest first, and then every member ranked above the new head
    moves out to the folder and back in, lowest first. Rank is ``(version, created_at)``,
    versions parsed with ``nomenclature``. The head is checked (:func:`_checked`); a head that
    is not the highest, or a call refused because the stored listing was out of date (a file
    someone deleted), runs the pass once more on a fresh listing. Frame.io's SDK 4.0.0 has no
    reorder call; the moves are what it offers (FIDELITY.md in :mod:`postflow.sandbox`).

    Args:
        project: the Frame.io project.
        folder_id: the shot folder.
        file: the uploaded (or already present) file, completed; it is stacked with the others.
        shot: its parsed name (scene and shot select the other versions).
        nomenclature: rules to parse the other files' names.
        lock: serialises stacking per folder (:func:`folder_lock`); in-process when None.
        store: the shared listings (:class:`tasks.structure.listings.ListingStore`); None lists the
            folder every time.

    Returns:
        The version stack id, or None when this is the shot's only version.

    Raises:
        FrameioError: listing, moving or creating failed.
        FrameioTransientError: the head was still not the highest version after two passes
            (someone else keeps reordering the stack); a retry runs the passes again.
    """
    with (lock or local_lock)(listing_lock_key(folder_id)):
        now = store.clock() if store else 0.0
        listing = store.get(folder_id) if store else None
        if listing is None:
            listing = read_listing(project, folder_id, None, now)
        if store:
            store.forget(folder_id)  # a pass that dies half-way leaves no stale listing
        stack_id: str | None = None
        for attempt in (1, 2):
            listing = _with_all_members(project, listing)
            if not listing.in_stack(
                file.id
            ):  # ours, completed (a listing may hold its placeholder)
                listing = listing.added(file)
            step = _Pass(project, listing)
            try:
                stack_id, highest = _arrange(step, shot, nomenclature)
            except FrameioPermanentError as exc:
                if attempt == 2:
                    raise
                # e.g. a file someone deleted since the listing was made: list and pass again
                upload_logger().info("%s: %s; listing the shot folder again", file.name, exc)
            else:
                if _checked(project, step, stack_id, highest):
                    if store:
                        store.put(step.listing)
                    return stack_id
                upload_logger().warning(
                    "%s: stack %s changed under us (pass %d); ordering it again",
                    file.name,
                    stack_id,
                    attempt,
                )
            listing = read_listing(project, folder_id, None, now)
    raise FrameioTransientError(
        "version_stacks.show",
        f"the head of stack {stack_id} is not the highest version after two passes",
    )
