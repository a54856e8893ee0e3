"""Several productions in one installation: each watch root mapped to its own Frame.io project.

A post house runs several films at once, each with its own LucidLink ``BY_SHOT`` folder and
Frame.io project. They are declared in one TOML file (``POSTFLOW_PRODUCTIONS_FILE``)::

    [[production]]
    name = "undlm"                              # short, unique: shown in runs and messages
    watch_path = "/mnt/lucid/UNDLM/BY_SHOT"
    frameio_project_id = "b2702c44-..."
    # optional, each defaults to the installation's setting:
    frameio_account_id = "6f70f1bd-..."
    nomenclature_path = "/mnt/lucid/UNDLM/nomenclature.toml"
    discord_block = "undlm-discord"
    discord_language = "fr"
    manifest_dir = "/srv/mhl/undlm"             # its ASC MHL delivery manifest's root

    [[production]]
    name = "chrono"
    watch_path = "/mnt/lucid/CHRONO/BY_SHOT"
    frameio_project_id = "0d6c3b1e-..."

Without the file, the single-root settings (``POSTFLOW_WATCH_PATH``, ``POSTFLOW_FRAMEIO_*``)
are the one production, as before. Each production keeps its state (ledger, retry queue,
circuit breaker, identity records) in ``<state_dir>/productions/<name>``, so two folders may
hold files with the same relative path without one hiding the other.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.settings import PostflowSettings
from core.errors import ConfigurationError

__all__ = [
    "Production",
    "installation_settings",
    "load_productions",
    "production_settings",
    "settings_for_path",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class Production(BaseModel):
    """One production: a watch root and the Frame.io project its files go to.

    Attributes:
        name: a short unique slug (lowercase letters, digits, ``-``, ``_``; up to 40).
        watch_path: the production's BY_SHOT folder.
        frameio_project_id: the Frame.io v4 project (UUID) its files go to.
        frameio_account_id: the account, when it differs from the installation's.
        nomenclature_path: its own naming rules, when they differ.
        discord_block: its own Discord channel (a ``PostflowDiscord`` block name).
        discord_language: the language of its Discord messages.
        manifest_dir: the root of its ASC MHL delivery manifest (default:
            ``<POSTFLOW_MANIFEST_DIR>/<name>`` when that is set, else under its state dir).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    watch_path: Path
    frameio_project_id: str = Field(min_length=1)
    frameio_account_id: str | None = None
    nomenclature_path: Path | None = None
    discord_block: str | None = None
    discord_language: Literal["en", "fr"] | None = None
    manifest_dir: Path | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use a short slug: lowercase letters, digits, '-' or '_' (e.g. 'undlm')"
            )
        return value


def load_productions(path: Path) -> list[Production]:
    """Read the productions file.

    Args:
        path: a TOML file with one ``[[production]]`` table per production.

    Returns:
        The productions, in file order.

    Raises:
        ConfigurationError: the file cannot be read, is not TOML, declares no production,
            repeats a name, or has watch folders inside one another (a file would belong to
            two productions); the message names the entry and the field to change.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"productions file {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"productions file {path} is not valid TOML: {exc}") from exc
    entries = data.get("production")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(
            f"productions file {path} declares no [[production]] table (see docs/productions.md)"
        )
    productions = [_production(path, index, entry) for index, entry in enumerate(entries, 1)]
    _check_distinct(path, productions)
    return productions


def _production(path: Path, index: int, entry: object) -> Production:
    try:
        return Production.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "entry"
        raise ConfigurationError(
            f"productions file {path}, production #{index}, {where}: {first['msg']}"
        ) from None


def _check_distinct(path: Path, productions: list[Production]) -> None:
    seen: dict[str, Production] = {}
    roots: list[tuple[Path, str]] = []
    for production in productions:
        if production.name in seen:
            raise ConfigurationError(f"productions file {path}: name {production.name!r} twice")
        seen[production.name] = production
        root = production.watch_path.expanduser().resolve()
        for other_root, other in roots:
            if root == other_root or root in other_root.parents or other_root in root.parents:
                raise ConfigurationError(
                    f"productions file {path}: the watch folders of {other!r} and "
                    f"{production.name!r} overlap ({other_root} / {root})"
                )
        roots.append((root, production.name))


def _for(settings: PostflowSettings, production: Production) -> PostflowSettings:
    update: dict[str, object] = {
        "production": production.name,
        "watch_path": production.watch_path.expanduser(),
        "frameio_project_id": production.frameio_project_id,
        "state_dir": settings.state_dir / "productions" / production.name,
    }
    for name in ("frameio_account_id", "nomenclature_path", "discord_block", "discord_language"):
        value = getattr(production, name)
        if value is not None:
            update[name] = value
    if production.manifest_dir is not None:
        update["manifest_dir"] = production.manifest_dir.expanduser()
    elif settings.manifest_dir is not None:
        update["manifest_dir"] = settings.manifest_dir / production.name
    return settings.model_copy(update=update)


def installation_settings(settings: PostflowSettings) -> PostflowSettings:
    """The installation's settings behind a production's (made by :func:`production_settings`):
    its state dir is the installation's again (a production keeps its own state in
    ``<state_dir>/productions/<name>``), its production name "". Installation-wide state (the
    review loop's, one webhook receiver per installation) is kept there."""
    state_dir = settings.state_dir
    own = settings.production and state_dir.name == settings.production
    if own and state_dir.parent.name == "productions":
        state_dir = state_dir.parent.parent
    return settings.model_copy(update={"state_dir": state_dir, "production": ""})


def production_settings(settings: PostflowSettings) -> list[PostflowSettings]:
    """One settings object per production (the installation's, overridden per production).

    Args:
        settings: the installation's settings; ``productions_file`` is read when set.

    Returns:
        ``[settings]`` when no productions file is set (the single-root installation);
        otherwise one copy per production with its ``production`` name, ``watch_path``,
        ``frameio_*`` ids, optional rules/Discord fields and its own ``state_dir``.

    Raises:
        ConfigurationError: see :func:`load_productions`.
    """
    if settings.productions_file is None or settings.production:
        return [settings]
    return [_for(settings, p) for p in load_productions(settings.productions_file)]


def settings_for_path(settings: PostflowSettings, path: str) -> PostflowSettings:
    """The settings of the production whose watch folder holds ``path``.

    Args:
        settings: the installation's settings.
        path: a file's absolute path.

    Returns:
        The production's settings; ``settings`` itself when no productions file is set (the
        single-root installation, where ``postflow ingest`` takes any path).

    Raises:
        ConfigurationError: see :func:`load_productions`; or productions are declared and
            none of their folders holds ``path`` (which project it belongs to is unknown).
    """
    if settings.productions_file is None or settings.production:
        return settings
    candidates = production_settings(settings)
    folder = Path(path).absolute().parent.resolve()
    for candidate in candidates:
        root = candidate.watch_path.resolve()
        if root == folder or root in folder.parents:
            return candidate
    names = ", ".join(c.production for c in candidates)
    raise ConfigurationError(
        f"{path} is in no production's watch folder ({names}, declared in "
        f"{settings.productions_file}); move it into one, or declare its production there"
    )
