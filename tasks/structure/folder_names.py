"""What may be a Frame.io folder name made from a file name, a rule or a typed value.

Scene and shot codes become folder names (``SCENES/<scene>/<shot>``), so a value such as
``A/B`` would make nested folders, ``..`` a folder named ``..``, and a folder template
``../../{scene}/{shot}`` would climb out of the project's tree in any tool that maps the tree
to disk. :func:`name_problem` says what is wrong with one level's name; :func:`check_template`
checks a rule's folder template when the rules load.
"""

from __future__ import annotations

import unicodedata

from core.errors import ConfigurationError

__all__ = ["check_folder_name", "check_template", "name_problem"]


def name_problem(value: str) -> str | None:
    """What makes ``value`` unfit as one folder level, in words; None when it is fit.

    Refused: empty, a path separator (``/`` or ``\\``), ``..``, a leading dot, a control
    character.
    """
    if not value or not value.strip():
        return "is empty"
    if "/" in value or "\\" in value:
        return "holds a path separator ('/' or '\\')"
    if ".." in value:
        return "holds '..'"
    if value.startswith("."):
        return "starts with a dot"
    if any(unicodedata.category(char) == "Cc" for char in value):
        return "holds a control character"
    return None


def check_folder_name(value: str, kind: str = "folder name") -> str:
    """Return ``value`` when it may be a folder level.

    Raises:
        ConfigurationError: one line naming the value (``kind`` says which, e.g. "scene").
    """
    problem = name_problem(value)
    if problem is not None:
        raise ConfigurationError(f"{kind} {value!r} {problem}: not usable as a folder name")
    return value


def check_template(template: str) -> str | None:
    """What is wrong with a rule's folder template (``"SCENES/{scene}/{shot}"``), or None.

    Each ``/``-separated level, filled with sample codes, must be a fit folder name; empty
    levels (a leading or doubled ``/``) are dropped when a name is parsed, as before.
    """
    if "\\" in template:
        return "holds a backslash; levels are separated by '/'"
    filled = template.format(scene="SC01", shot="SHOT01", version=1)
    for level in (part for part in filled.split("/") if part):
        problem = name_problem(level)
        if problem is not None:
            return f"level {level!r} {problem}"
    return None
