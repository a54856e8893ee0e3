"""Structure: find or create ``SCENES/<scene>/<shot>`` under the project's root folder.

Exactly one folder per path, even when many ingests of one new shot run at once:

* names are compared after NFC normalisation and case folding (:func:`folder_key`), so a
  folder made by hand as ``sc01`` (or written NFD by macOS) is reused for ``SC01``, never
  duplicated;
* the parent's lock on the configured lock manager (:mod:`tasks.platform.locks`: every process of a
  machine, or every machine with Redis) serialises look-then-create, so the second caller
  finds the folder the first one made, in the parent's shared listing
  (:mod:`tasks.structure.listings`,
  which also spares a listing per new sibling);
* a create that fails transiently is followed by a fresh look before anything is retried
  (the failed POST may have created it);
* where several same-named folders exist (made by hand, or by writers that did not share a
  lock manager), every look-up settles on the oldest one (``created_at``, then id).

The Prefect task :func:`ensure_folder` caches each level's folder id for
``structure_cache_ttl_seconds``, with SERIALIZABLE isolation so identical concurrent calls
compute it once - across workers too, given shared key storage and a Redis lock manager.
:func:`resolve_shot_folder` walks a shot's levels through it and says whether every level
came from the cache.
"""

from __future__ import annotations

import contextlib
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import INPUTS, CachePolicy

from blocks.frameio_project import Asset, FrameioProject
from config.settings import PostflowSettings
from core.errors import FrameioTransientError
from core.logs import run_logger
from core.runtime import current_runtime
from tasks.platform.locks import held, lock_manager_for
from tasks.structure.cache import OwnedKeys
from tasks.structure.folder_names import check_folder_name
from tasks.structure.listings import FolderListing, ListingStore, listing_lock_key
from tasks.structure.naming import ShotName

_log = run_logger("postflow.structure")

__all__ = [
    "ensure_child_folder",
    "ensure_folder",
    "find_folder",
    "folder_key",
    "resolve_folder_path",
    "resolve_shot_folder",
    "structure_cache_policy",
]


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def folder_key(name: str) -> str:
    """The form two folder names are compared in: NFC-normalised, then case-folded.

    Args:
        name: a folder name, e.g. ``"sc01"`` or ``"SC01"``.

    Returns:
        The comparison key (``"sc01"`` for both).
    """
    return _nfc(name).casefold()


def _lock_for(parent_id: str, name: str) -> threading.Lock:
    return current_runtime().lock(("folder", parent_id, folder_key(name)))


def find_folder(children: Iterable[Asset], name: str) -> Asset | None:
    """Return the folder among ``children`` whose name equals ``name`` up to case and Unicode
    normalisation (:func:`folder_key`).

    Args:
        children: a folder's children (files and version stacks are ignored).
        name: the wanted name, e.g. ``"SC01"``.

    Returns:
        The matching folder, the oldest (``created_at``, then id) when several match (Frame.io
        holds duplicates, or case variants made by hand); None when there is none.
    """
    wanted = folder_key(name)
    matches = [c for c in children if c.type == "folder" and folder_key(c.name) == wanted]
    return min(matches, key=lambda a: (a.created_at, a.id)) if matches else None


def ensure_child_folder(
    project: FrameioProject,
    parent_id: str,
    name: str,
    settings: PostflowSettings | None = None,
    relist: bool = False,
) -> str:
    """Return the id of folder ``name`` under ``parent_id``, creating it if missing.

    With ``settings``, look-then-create holds the parent's lock on the configured lock
    manager (every thread, process and worker) and uses the parent's shared listing
    (:mod:`tasks.structure.listings`): a parent is listed once, and a folder our writers created
    since
    is in the listing, so the next new sibling is known to be absent without listing again.
    The lock is what keeps one folder per path among our writers; a folder made by hand in
    the web app is seen once the listing is older than ``folder_listing_ttl_seconds``, and
    the oldest of same-named folders wins (:func:`find_folder`). Without ``settings``: an
    in-process lock and a fresh listing. ``relist`` lists the parent even when a stored
    listing exists (a folder it names proved gone).

    Raises:
        ConfigurationError: ``name`` is not a fit folder name (``A/B``, ``..``: see
            :func:`tasks.structure.folder_names.name_problem`); nothing is created.
        FrameioError: listing or creating failed (transient ones after a re-check).
    """
    check_folder_name(name)
    if settings is None:
        with _lock_for(parent_id, name):
            return _find_or_create(project, parent_id, name, None)
    with held(lock_manager_for(settings), listing_lock_key(parent_id)):
        return _find_or_create(project, parent_id, name, ListingStore(settings), relist)


def _find_or_create(
    project: FrameioProject,
    parent_id: str,
    name: str,
    store: ListingStore | None,
    relist: bool = False,
) -> str:
    listing = store.get(parent_id) if store and not relist else None
    if listing is None:
        now = store.clock() if store else 0.0
        listing = FolderListing(parent_id, tuple(project.list_children(parent_id)), {}, now)
        if store:
            store.put(listing)
    existing = find_folder(listing.children, name)
    if existing is not None:
        twins = [c.id for c in listing.folders() if folder_key(c.name) == folder_key(name)]
        if len(twins) > 1:  # made by hand, or by writers that shared no lock manager
            _log.warning(
                "%d folders named %r in folder %s (%s): using the oldest, %s; move the "
                "others' files into it and delete them",
                len(twins),
                name,
                parent_id,
                ", ".join(twins),
                existing.id,
            )
        return existing.id
    if store:
        store.forget(parent_id)  # until the create is known, nobody trusts the listing
    try:
        created = project.create_folder(parent_id, _nfc(name))
    except FrameioTransientError:
        # The failed POST may have created it: look again before anything is retried.
        again = find_folder(project.list_children(parent_id), name)
        if again is not None:
            return again.id
        raise
    if store:
        store.put(listing.added(created))
    return created.id


def resolve_folder_path(project: FrameioProject, folder_path: Sequence[str]) -> str:
    """Walk ``folder_path`` from the project's root folder, creating missing levels.

    Args:
        project: the Frame.io project.
        folder_path: e.g. ``("SCENES", "SC01", "UNDLM_00412")``.

    Returns:
        The id of the last folder.

    Raises:
        ConfigurationError: a level is not a fit folder name; checked before any is made.
        FrameioError: any listing or creation failure.
    """
    for name in folder_path:
        check_folder_name(name)
    parent = project.root_folder_id
    for name in folder_path:
        parent = ensure_child_folder(project, parent, name)
    return parent


def structure_cache_policy(settings: PostflowSettings) -> CachePolicy:
    """Cache policy of :func:`ensure_folder`: inputs minus the client and the settings,
    SERIALIZABLE isolation, keys named for this installation
    (:class:`tasks.structure.cache.OwnedKeys`), so ``postflow cache clear`` knows its own records.

    Single machine: records in the local result storage, in-process locks. Several workers:
    ``structure_cache_dir`` on storage they all mount and ``lock_manager="redis"`` (prefect-redis
    ``RedisLockManager``), so one worker creates a folder and the others wait and reuse it
    (Prefect docs: https://docs.prefect.io/v3/advanced/caching).

    Raises:
        ConfigurationError: redis lock manager asked for but prefect-redis is not installed.
    """
    inputs = INPUTS - "project" - "settings" - "relist"
    return OwnedKeys(inner=inputs, installation=settings.installation).configure(
        key_storage=settings.structure_cache_dir,
        isolation_level="SERIALIZABLE",
        lock_manager=lock_manager_for(settings),
    )


@task(name="ensure-folder", cache_policy=INPUTS - "project" - "settings", result_serializer="json")
def ensure_folder(
    project: FrameioProject,
    api_base_url: str,
    project_id: str,
    folder_path: list[str],
    parent_id: str,
    settings: PostflowSettings | None = None,
    relist: bool = False,
) -> str:
    """Prefect task: the id of the last folder of ``folder_path`` (created under ``parent_id``
    if missing).

    One task per level (``SCENES``, ``SCENES/SC01``, ``SCENES/SC01/UNDLM_00412``), each cached
    per ``(api_base_url, project_id, folder_path, parent_id)``: with a shared key storage and
    lock manager, two workers resolving ``SC01/A`` and ``SC01/B`` at once still create ``SC01``
    once. The flow sets the policy (:func:`structure_cache_policy`) and the TTL; ``settings``
    and ``relist`` (not part of the key) give the lock manager, the shared listings and
    whether to trust them to :func:`ensure_child_folder`.

    Raises:
        FrameioError: see :func:`ensure_child_folder`.
    """
    _count_executed_level()
    folder_id = ensure_child_folder(project, parent_id, folder_path[-1], settings, relist)
    get_run_logger().info("Folder %s -> %s", "/".join(folder_path), folder_id)
    return folder_id


# Levels whose ensure_folder body ran during the current resolve_shot_folder call. A cache hit
# returns the stored result without running the body, so "0 executed" means "all cached";
# Prefect's state type is COMPLETED either way. A context variable keeps concurrent ingests
# (threads of one process) apart; Prefect runs a task's body in the caller's context or a
# copy of it, and a copy shares the same counter list.
_executed_levels: ContextVar[list[int] | None] = ContextVar(
    "postflow_executed_levels", default=None
)


def _count_executed_level() -> None:
    counter = _executed_levels.get()
    if counter is not None:
        counter[0] += 1


@contextlib.contextmanager
def _counting_executed_levels() -> Iterator[list[int]]:
    counter = [0]
    token = _executed_levels.set(counter)
    try:
        yield counter
    finally:
        _executed_levels.reset(token)


def resolve_shot_folder(
    project: FrameioProject,
    shot: ShotName,
    settings: PostflowSettings,
    retry_options: dict[str, Any],
    refresh: bool = False,
) -> tuple[str, bool]:
    """Find or create the shot's folder, level by level from the project's root folder.

    Each level is one :func:`ensure_folder` task run under :func:`structure_cache_policy`,
    cached for ``structure_cache_ttl_seconds``.

    Args:
        project: the Frame.io project.
        shot: the parsed name; ``shot.folder_path`` is walked (e.g. ``SCENES/SC01/UNDLM_00412``).
        settings: ``structure_cache_ttl_seconds`` (0 disables the cache),
            ``structure_cache_dir``, ``lock_manager`` and ``frameio_api_base_url`` are read.
        retry_options: Prefect retry options for each level
        (:func:`tasks.recovery.retrying.retry_options`).
        refresh: ignore cached ids and stored listings and resolve every level again (a
            cached folder was deleted).

    Returns:
        ``(folder id, cache_hit)``: ``cache_hit`` is True when no level had to be resolved
        (every level's task body was skipped because its result came from the cache).

    Raises:
        FrameioError: a level could not be listed or created (after the task's retries).
    """
    ttl = settings.structure_cache_ttl_seconds
    level = ensure_folder.with_options(
        cache_policy=structure_cache_policy(settings),
        cache_expiration=timedelta(seconds=ttl) if ttl else None,
        refresh_cache=refresh or ttl == 0,
        **retry_options,
    )
    parent = project.root_folder_id
    with _counting_executed_levels() as executed:
        for depth in range(1, len(shot.folder_path) + 1):
            path = list(shot.folder_path[:depth])
            base_url = settings.frameio_api_base_url
            parent = level(project, base_url, project.project_id, path, parent, settings, refresh)
    return parent, executed[0] == 0
