"""The ASC MHL history of a production's deliveries, written with ``ascmhl``'s Python API.

The history lives in ``<root>/ascmhl/`` (generation files ``NNNN_<root name>_<date>.mhl`` and
the chain ``ascmhl_chain.xml``, ascmhl's layout); ``root`` is :func:`manifest_root`. ascmhl
stores each path relative to ``root`` and never opens the file while recording a hash, so a
delivery is appended as if it sat at ``<root>/<rel path>``: the manifest's paths are the
watch-folder-relative paths, and with ``root`` = the watch folder (``POSTFLOW_MANIFEST_DIR``)
stock ``ascmhl-debug verify <watch folder>`` checks the sources too.

Each call of :func:`write_generation` is one generation (a batch of deliveries), with the hashes
computed at upload time (``xxh128``: XXH3-128, lowercase hex); nothing is re-read. A path
delivered again with other content (a re-render) is recorded with action ``original`` rather
than ascmhl's ``failed``: it is new content, not a failed check (ascmhl prints an "ERROR: hash
mismatch" line on stderr for it all the same). Dates are written in local time with the local
UTC offset, which is how ascmhl formats every date it writes.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ascmhl import utils as mhl_utils
from ascmhl.generator import MHLGenerationCreationSession
from ascmhl.hashlist import MHLCreatorInfo, MHLProcess, MHLProcessInfo, MHLTool
from ascmhl.history import MHLHistory

from config.settings import PostflowSettings
from core.errors import ManifestError
from tasks.manifest.deliveries import Delivery

__all__ = ["HASH_FORMAT", "Generation", "manifest_root", "read_history", "write_generation"]

HASH_FORMAT = "xxh128"


@dataclass(frozen=True)
class Generation:
    """One generation of a history, as read back by ascmhl's parser.

    Attributes:
        number: its generation number (1, 2, ...).
        file: the .mhl file.
        entries: ``(path relative to the root, size in bytes, xxh128 hex, action)`` per file.
    """

    number: int
    file: Path
    entries: list[tuple[str, int, str, str]]


def manifest_root(settings: PostflowSettings) -> Path:
    """The root of the production's manifest history (absolute; not created here).

    ``settings.manifest_dir`` when set, else ``<state_dir>/mhl/<production or installation>``
    (the folder's name is the middle of each generation's file name).
    """
    if settings.manifest_dir is not None:
        return Path(settings.manifest_dir).expanduser().absolute()
    name = settings.production or settings.installation
    return (Path(settings.state_dir) / "mhl" / name).absolute()


def _load(root: Path) -> MHLHistory:
    try:
        return MHLHistory.load_from_path(str(root))
    except Exception as exc:  # ascmhl raises click exceptions, OSError, lxml errors
        raise ManifestError(root, f"cannot read the history: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message).strip().splitlines()[0]


def _creator() -> MHLCreatorInfo:
    try:
        ours = version("rl-postflow")
    except PackageNotFoundError:  # a source tree that was never installed
        ours = "unknown"
    creator = MHLCreatorInfo()
    creator.tool = MHLTool("rl-postflow", ours)
    creator.creation_date = mhl_utils.datetime_now_isostring()
    creator.host_name = platform.node()
    creator.comment = "Frame.io deliveries recorded by RL PostFlow (hashes from the upload read)"
    return creator


def write_generation(root: Path, deliveries: Sequence[Delivery]) -> tuple[int, Path]:
    """Append one generation recording ``deliveries`` to the history at ``root``.

    Args:
        root: the history's root (created when missing; ascmhl adds ``ascmhl/``).
        deliveries: the files, each once (the caller keeps the newest per path).

    Returns:
        ``(generation number, .mhl file)``.

    Raises:
        ManifestError: the history cannot be read (a generation was changed or removed) or
            the new generation cannot be written.
    """
    if not deliveries:
        raise ValueError("write_generation needs at least one delivery")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ManifestError(root, f"cannot create the history folder: {exc}") from exc
    history = _load(root)
    session = MHLGenerationCreationSession(history)
    for delivery in deliveries:
        earlier = history.find_first_hash_entry_for_path(delivery.rel_path, HASH_FORMAT)
        renewed = earlier is not None and earlier.hash_string != delivery.xxh128
        session.append_file_hash(
            str(root / delivery.rel_path),
            delivery.size_bytes,
            datetime.fromtimestamp(delivery.mtime_ns / 1e9),
            HASH_FORMAT,
            delivery.xxh128.lower(),
            action="original" if renewed else None,
            hash_date=datetime.fromtimestamp(delivery.delivered_at),
        )
    process = MHLProcessInfo()
    process.process = MHLProcess("in-place")
    try:
        session.commit(_creator(), process)
    except Exception as exc:
        raise ManifestError(root, f"cannot write a generation: {_reason(exc)}") from exc
    newest = history.hash_lists[-1]
    return int(newest.generation_number), Path(newest.file_path)


def read_history(root: Path) -> list[Generation]:
    """The generations of the history at ``root``, oldest first (ascmhl's loader, which also
    checks each generation against the chain file); ``[]`` when there is none.

    Raises:
        ManifestError: the history cannot be read, or a generation was changed or removed.
    """
    if not (root / "ascmhl").is_dir():
        return []
    generations = []
    for hash_list in _load(root).hash_lists:
        entries = [
            (media.path, int(media.file_size or 0), entry.hash_string, entry.action)
            for media in hash_list.media_hashes
            if not media.is_directory
            for entry in media.hash_entries
            if entry.hash_format == HASH_FORMAT
        ]
        number = int(hash_list.generation_number)
        generations.append(Generation(number, Path(hash_list.file_path), entries))
    return generations
