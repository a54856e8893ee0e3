"""No product module holds process state: what a process keeps lives on :mod:`core.runtime`.

Every module of ``core``, ``config``, ``blocks``, ``tasks``, ``flows`` and ``postflow`` (the
Frame.io sandbox aside, a stand-in with its own life) is imported, and each name its own source
assigns at module level is checked: a mutable container (dict, list, set, bytearray, deque...)
or a mutable instance of one of our classes is state that outlives a test and hides from the
caller. Constants are tuples, frozensets, ``MappingProxyType``, frozen dataclasses, enums,
compiled patterns and the like; a module-level lock is flagged too, as it guards state. The
one root, which :class:`~core.runtime.Runtime` is current, is allowed by name. No product
source may use a ``global`` statement either.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import logging
import pkgutil
import threading
import typing
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "config", "blocks", "tasks", "flows", "postflow")
EXCLUDED = ("postflow.sandbox",)
OURS = PACKAGES

MUTABLE_CONTAINERS = (dict, list, set, bytearray, deque)
LOCKS = (type(threading.Lock()), type(threading.RLock()))  # a module lock guards module state

# The one root of process state: which Runtime is current (everything else hangs off it).
ALLOWED = {("core.runtime", "_INSTALLED")}


def _product_modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package
        path = [str(ROOT / package)]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if not info.name.startswith(EXCLUDED):
                yield info.name


MODULES = sorted(_product_modules())


def _source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(path.is_relative_to(ROOT / Path(*ex.split("."))) for ex in EXCLUDED):
                yield path


def _assigned_names(tree: ast.Module) -> set[str]:
    """Names the module's own top-level statements bind by assignment (``if``/``try`` too)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []) or [])
            continue
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _is_frozen(value: object) -> bool:
    cls = type(value)
    if isinstance(value, (tuple, enum.Enum, frozenset)):
        return True
    if dataclasses.is_dataclass(cls):
        return bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    config = getattr(cls, "model_config", None)
    return isinstance(config, dict) and bool(config.get("frozen"))


def _is_definition(value: object) -> bool:
    return (
        inspect.ismodule(value)
        or inspect.isclass(value)
        or inspect.isroutine(value)
        or isinstance(value, (logging.Logger, logging.LoggerAdapter, typing.TypeVar))
        or type(value).__module__ in ("typing", "typing_extensions")
    )


def _mutable_state(module: ModuleType) -> list[str]:
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    found = []
    for name in sorted(_assigned_names(tree)):
        if name.startswith("__") or (module.__name__, name) in ALLOWED:
            continue
        value = getattr(module, name, None)
        if value is None or _is_definition(value):
            continue
        ours = type(value).__module__.split(".")[0] in OURS
        mutable = isinstance(value, (*MUTABLE_CONTAINERS, *LOCKS))
        if mutable or (ours and not _is_frozen(value)):
            found.append(f"{name}: {type(value).__name__}")
    return found


@pytest.mark.parametrize("name", MODULES)
def test_a_module_holds_no_mutable_state(name):
    module = importlib.import_module(name)
    assert _mutable_state(module) == []


@pytest.mark.parametrize("path", list(_source_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_product_source_uses_a_global_statement(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Global)]
    assert lines == []


def test_the_allowed_roots_exist():
    for module, name in ALLOWED:
        assert hasattr(importlib.import_module(module), name)
