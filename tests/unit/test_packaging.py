"""Packaging: every third-party import is declared in pyproject.toml; block types show a logo
and a documentation link in the Prefect UI."""

from __future__ import annotations

import ast
import functools
import inspect
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from prefect.blocks.core import Block

import blocks.discord
import blocks.frameio
import blocks.settings

ROOT = Path(__file__).resolve().parents[2]
OURS = {"core", "config", "blocks", "tasks", "flows", "postflow", "tests", "benchmarks"}
OURS |= {path.stem for path in (ROOT / "benchmarks").glob("*.py")}  # scripts, run from there
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _imported(folders: tuple[str, ...]) -> set[str]:
    """Top-level names of absolute imports in the .py files under ``folders``."""
    names = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names - OURS - set(sys.stdlib_module_names)


def _declared(requirements: list[str]) -> set[str]:
    """Normalised distribution names of PEP 508 requirement strings."""
    return {
        re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


@functools.cache
def _all_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(module: str) -> set[str]:
    return {d.lower().replace("_", "-") for d in _all_distributions().get(module, [])}


@pytest.mark.parametrize(
    ("folders", "extras"),
    [
        (("core", "config", "blocks", "tasks", "flows", "postflow"), ("scale",)),
        (("tests",), ("dev",)),
    ],
)
def test_every_third_party_import_is_declared(folders, extras):
    project = PYPROJECT["project"]
    declared = _declared(project["dependencies"])
    for extra in extras:
        declared |= _declared(project["optional-dependencies"][extra])
    missing = {m for m in _imported(folders) if not _distributions(m) & declared}
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


@pytest.mark.parametrize("module", [blocks.discord, blocks.frameio, blocks.settings])
def test_block_types_carry_a_logo_and_a_documentation_link(module):
    types = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Block) and obj.__module__ == module.__name__
    ]
    assert types
    for block_type in types:
        assert str(block_type._logo_url).startswith("https://"), block_type
        assert str(block_type._documentation_url).startswith("https://"), block_type


@pytest.mark.parametrize("name", ["prefect.yaml", "automations.yaml"])
def test_the_package_reads_the_top_level_yaml_files(name):
    # postflow/<name> is package data (what the wheel carries) and a symlink to the top-level
    # file (what `prefect deploy --all` reads): a hand copy in its place would drift.
    from postflow.serve.deployments import PREFECT_YAML
    from postflow.setup.automations import AUTOMATIONS_YAML

    shipped = {"prefect.yaml": PREFECT_YAML, "automations.yaml": AUTOMATIONS_YAML}[name]
    assert shipped.is_symlink() and shipped.resolve() == ROOT / name
    assert name in PYPROJECT["tool"]["setuptools"]["package-data"]["postflow"]
