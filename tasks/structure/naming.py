"""Nomenclature: from a BY_SHOT file name to scene, shot, version and the Frame.io folder path.

Pure functions, tested without Prefect. Rules come from
``config/nomenclature.toml``; names are normalised to Unicode NFC before anything else, so a
name written by a macOS client (NFD) maps to the same folder as one written on Windows.

Three outcomes for a name:
    * :class:`ShotName`  - it parses; upload it.
    * :class:`Ignored`   - junk or a partial file (``.DS_Store``, ``._x``, ``x.part``, 0 bytes);
      skip it silently, it is not an error.
    * :class:`~core.errors.NamingError` - a media-looking file the rules cannot read, or
      an unsupported extension; report it, never upload it.

Parsing takes microseconds and does no I/O, so flows call it directly rather than as a task.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import MappingProxyType

from config.settings import DEFAULT_IGNORE_PATTERNS, DEFAULT_NOMENCLATURE_PATH
from core.errors import ConfigurationError, NamingError
from core.runtime import current_runtime
from tasks.structure.folder_names import check_template, name_problem

DEFAULT_FOLDER_TEMPLATE = "SCENES/{scene}/{shot}"
REQUIRED_GROUPS = ("scene", "shot", "version")


@dataclass(frozen=True)
class NamingRule:
    """One ordered naming rule.

    Attributes:
        name: identifier reported with each parse.
        pattern: compiled regex with named groups ``scene``, ``shot``, ``version``; full match
            against the file stem.
        folder_template: e.g. ``"SCENES/{scene}/{shot}"``; ``/`` separates folder levels.
        examples: names that must parse with this rule.
        case: how scene and shot codes are written in folder names: ``"upper"`` (default),
            ``"lower"`` or ``"keep"``; so ``sc01_undlm_00412_v002.mov`` and
            ``SC01_UNDLM_00412_V003.mov`` land in the same shot folder.
    """

    name: str
    pattern: re.Pattern[str]
    folder_template: str = DEFAULT_FOLDER_TEMPLATE
    examples: tuple[str, ...] = ()
    case: str = "upper"

    def write_code(self, code: str) -> str:
        """A scene or shot code as this rule writes it (see ``case``)."""
        return _CASES[self.case](code)


# How a rule writes scene and shot codes (the rules file's ``case`` key).
_CASES: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {"upper": str.upper, "lower": str.lower, "keep": str}
)


@dataclass(frozen=True)
class ShotName:
    """A parsed BY_SHOT file name.

    Attributes:
        file: the NFC-normalised file name, e.g. ``"SC01_UNDLM_00412_V002.mov"``.
        scene: e.g. ``"SC01"``.
        shot: e.g. ``"UNDLM_00412"``.
        version: the version number as an int, e.g. ``2``.
        extension: lower-case with the dot, e.g. ``".mov"``.
        folder_path: folder names under the project root,
            e.g. ``("SCENES", "SC01", "UNDLM_00412")``.
        rule: the name of the rule that matched.
    """

    file: str
    scene: str
    shot: str
    version: int
    extension: str
    folder_path: tuple[str, ...]
    rule: str

    def as_dict(self) -> dict[str, object]:
        """Return the JSON shape printed by ``postflow nomenclature --json``."""
        return {
            "file": self.file,
            "scene": self.scene,
            "shot": self.shot,
            "version": self.version,
            "extension": self.extension,
            "folder_path": list(self.folder_path),
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Ignored:
    """A junk or partial file that the pipeline skips without reporting.

    Attributes:
        file: the NFC-normalised file name.
        reason: why, e.g. ``"AppleDouble metadata file"``.
    """

    file: str
    reason: str


@dataclass(frozen=True)
class Nomenclature:
    """An ordered set of naming rules plus the accepted extensions.

    Attributes:
        rules: tried in order; the first full match wins.
        extensions: accepted lower-case extensions with the dot.
        ignore_patterns: fnmatch patterns of names to skip silently.
    """

    rules: tuple[NamingRule, ...]
    extensions: tuple[str, ...]
    ignore_patterns: tuple[str, ...] = field(default=DEFAULT_IGNORE_PATTERNS)

    def parse(self, name: str) -> ShotName:
        """Parse a file name (a bare name or a path; only the last component is used).

        Args:
            name: e.g. ``"SC01_UNDLM_00412_V002.mov"``.

        Returns:
            The parsed :class:`ShotName`.

        Raises:
            NamingError: unsupported extension, or no rule matches the stem.
        """
        file = normalise_name(name)
        stem, extension = split_extension(file)
        tried = [rule.name for rule in self.rules]
        if extension not in self.extensions:
            shown = extension or "no extension"
            raise NamingError(
                file,
                f"unsupported extension {shown!r}; accepted: {' '.join(self.extensions)}",
                tried,
            )
        bad = None  # a rule matched but made an unfit folder name: said if no rule fits
        for rule in self.rules:
            match = rule.pattern.fullmatch(stem)
            if match is None:
                continue
            scene = rule.write_code(match["scene"].strip())
            shot = rule.write_code(match["shot"].strip())
            if not scene or not shot:
                continue
            try:
                version = int(match["version"])
            except ValueError:  # absurdly long digit runs exceed int() limits
                continue
            folder = rule.folder_template.format(scene=scene, shot=shot, version=version)
            parts = tuple(p for p in folder.split("/") if p)
            named = (("scene", scene), ("shot", shot), *(("folder", p) for p in parts))
            problems = [f"{k} {v!r} {p}" for k, v in named if (p := name_problem(v)) is not None]
            if problems:
                bad = bad or f"rule {rule.name!r} reads {problems[0]}"
                continue
            return ShotName(file, scene, shot, version, extension, parts, rule.name)
        raise NamingError(
            file,
            bad
            or "the name matches no nomenclature rule (expected e.g. SC01_UNDLM_00412_V002.mov)",
            tried,
        )

    def classify(self, name: str, size_bytes: int | None = None) -> ShotName | Ignored:
        """Decide what to do with a name seen in the watch folder.

        Args:
            name: file name or path.
            size_bytes: the file's size when known; 0 means a LucidLink placeholder or an
                empty file, which is ignored.

        Returns:
            :class:`Ignored` for junk/partial files, else the parsed :class:`ShotName`.

        Raises:
            NamingError: a non-junk file the rules cannot read.
        """
        file = normalise_name(name)
        reason = ignore_reason(file, size_bytes, self.ignore_patterns)
        if reason is not None:
            return Ignored(file, reason)
        return self.parse(file)


def normalise_name(name: str) -> str:
    """Return the last path component of ``name``, Unicode-normalised to NFC."""
    return unicodedata.normalize("NFC", PurePath(str(name)).name)


def split_extension(file: str) -> tuple[str, str]:
    """Split ``"A_V001.MOV"`` into ``("A_V001", ".mov")``; the extension is lower-cased."""
    stem, dot, ext = file.rpartition(".")
    if not dot or not stem:
        return file, ""
    return stem, f".{ext.lower()}"


_NAMED_JUNK = MappingProxyType(
    {
        ".ds_store": "macOS Finder metadata",
        "thumbs.db": "Windows thumbnail cache",
        "desktop.ini": "Windows folder settings",
    }
)
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")


def ignore_reason(
    file: str, size_bytes: int | None = None, patterns: tuple[str, ...] = DEFAULT_IGNORE_PATTERNS
) -> str | None:
    """Return why a name should be skipped silently, or None when it should be processed.

    Args:
        file: an NFC-normalised file name.
        size_bytes: the file size, when known (0 is skipped: placeholder or empty file).
        patterns: extra fnmatch patterns (case-insensitive) from settings.
    """
    lowered = file.lower()
    if lowered in _NAMED_JUNK:
        return _NAMED_JUNK[lowered]
    if file.startswith("._"):
        return "AppleDouble metadata file"
    if file.startswith("."):
        return "hidden file"
    if lowered.endswith(_TEMP_SUFFIXES) or file.endswith("~"):
        return "temporary or partial file"
    if size_bytes == 0:
        return "empty file (0 bytes; LucidLink placeholder or not written yet)"
    for pattern in patterns:
        if fnmatch.fnmatch(lowered, pattern.lower()):
            return f"matches ignore pattern {pattern!r}"
    return None


def load_nomenclature(
    path: Path = DEFAULT_NOMENCLATURE_PATH,
    extensions: tuple[str, ...] | None = None,
    ignore_patterns: tuple[str, ...] = DEFAULT_IGNORE_PATTERNS,
    ttl_seconds: int = 0,
) -> Nomenclature:
    """Load and check the rules file (cached: parsed once per ``ttl_seconds``, and again at
    once when the file's mtime changes; ``ttl_seconds=0`` keeps it for the process's life).

    Args:
        path: a TOML file with ``extensions`` and ``[[rules]]`` (see config/nomenclature.toml).
        extensions: overrides the file's extension list when given (from settings).
        ignore_patterns: fnmatch patterns to skip silently.
        ttl_seconds: ``nomenclature_cache_ttl_seconds``.

    Raises:
        ConfigurationError: unreadable file, a regex that does not compile or lacks a required
            group, a folder template with unknown fields, or an example that does not parse.
    """
    try:
        mtime_ns = Path(path).stat().st_mtime_ns
    except OSError:
        mtime_ns = 0  # _parse reports the unreadable file
    key = (Path(path), extensions, tuple(ignore_patterns), mtime_ns)
    return current_runtime().cached(
        "nomenclature", key, lambda: _parse(*key[:3]), ttl_seconds=ttl_seconds, max_entries=8
    )


def _parse(
    path: Path, extensions: tuple[str, ...] | None, ignore_patterns: tuple[str, ...]
) -> Nomenclature:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read nomenclature rules {path}: {exc}") from exc
    raw_rules, raw_exts = document.get("rules", []), document.get("extensions", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise ConfigurationError(f"{path}: 'rules' must be [[rules]] tables, not {raw_rules!r}")
    if not isinstance(raw_exts, list) or not all(isinstance(e, str) for e in raw_exts):
        raise ConfigurationError(f"{path}: 'extensions' must be a list of strings like '.mov'")
    rules = tuple(_build_rule(raw, path) for raw in raw_rules)
    if not rules:
        raise ConfigurationError(f"{path}: no [[rules]] defined")
    exts = extensions or tuple(e.lower() for e in raw_exts)
    nomenclature = Nomenclature(rules, tuple(exts), ignore_patterns)
    for rule in rules:
        for example in rule.examples:
            try:
                parsed = nomenclature.parse(example)
            except NamingError as exc:
                raise ConfigurationError(f"{path}: rule {rule.name!r} example: {exc}") from exc
            if parsed.rule != rule.name:
                raise ConfigurationError(
                    f"{path}: example {example!r} of rule {rule.name!r} matched {parsed.rule!r}"
                )
    return nomenclature


def _build_rule(raw: dict[str, object], path: Path) -> NamingRule:
    name = str(raw.get("name") or "")
    if not name or "pattern" not in raw:
        raise ConfigurationError(f"{path}: every rule needs a name and a pattern: {raw!r}")
    # ASCII: \d is 0-9 only (else "V\u0662" would parse as version 2).
    flags = re.ASCII | (re.IGNORECASE if raw.get("ignore_case") else 0)
    case = str(raw.get("case", "upper"))
    if case not in _CASES:
        raise ConfigurationError(
            f"{path}: rule {name!r}: case must be one of {', '.join(_CASES)}, not {case!r}"
        )
    try:
        pattern = re.compile(str(raw["pattern"]), flags)
    except re.error as exc:
        raise ConfigurationError(f"{path}: rule {name!r}: bad regex: {exc}") from exc
    missing = [g for g in REQUIRED_GROUPS if g not in pattern.groupindex]
    if missing:
        raise ConfigurationError(f"{path}: rule {name!r} lacks named groups {missing}")
    template = str(raw.get("folder") or DEFAULT_FOLDER_TEMPLATE)
    try:
        problem = check_template(template)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise ConfigurationError(
            f"{path}: rule {name!r}: bad folder template {template!r}: {problem}"
        )
    examples = raw.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ConfigurationError(f"{path}: rule {name!r}: examples must be a list of names")
    return NamingRule(name, pattern, template, tuple(str(e) for e in examples), case)


def shown_name(path: str) -> str:
    """``path``'s last component, printable anywhere: bytes that are not UTF-8 appear as
    ``\\xNN`` escapes (``b"\\xc9T\\xc9.mov"`` -> ``"\\xc9T\\xc9.mov"``)."""
    name = os.path.basename(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(name))[2:-1]
    return name
