"""docs/layout.md names every product module in its room, names none that is gone, and no
import cycle exists anywhere in the product (issue 20: rooms by capability)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("postflow", "flows", "tasks", "blocks", "config", "core")
_ENTRY = re.compile(r"^(?P<indent> {0,2})(?P<name>[a-z0-9_]+(?:/|\.py))(?:\s|$)")


def _entries() -> dict[str, str]:
    """``{"tasks/sensor/": "<its text>", "tasks/clients.py": "...", ...}`` from the tree."""
    text = (ROOT / "docs" / "layout.md").read_text()
    block = text.split("```", 2)[1]
    entries: dict[str, str] = {}
    layer, current = "", ""
    for line in block.splitlines():
        match = _ENTRY.match(line)
        if match and (match["indent"] == "" or layer):
            name = match["name"]
            if match["indent"] == "":
                layer = name if name.rstrip("/") in LAYERS else ""
                current = name
            else:
                current = layer + name
            entries[current] = ""
            line = line[match.end() :]
        if current:
            entries[current] += " " + line
    return entries


def _product_modules() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for layer in LAYERS
        for path in (ROOT / layer).rglob("*.py")
        if path.name != "__init__.py"
    )


def _entry_for(module: Path, entries: dict[str, str]) -> str:
    text = str(module)
    if text in entries:
        return text
    owners = [key for key in entries if key.endswith("/") and text.startswith(key)]
    return max(owners, key=len)


@pytest.mark.parametrize("module", _product_modules(), ids=str)
def test_the_layout_names_every_module_in_its_room(module: Path) -> None:
    entries = _entries()
    owner = _entry_for(module, entries)
    if owner == str(module):
        return
    named = set(re.findall(r"[a-z0-9_]+\.py", entries[owner]))
    assert module.name in named, f"docs/layout.md: {module} is not named under {owner}"


def test_the_layout_names_no_module_that_is_gone() -> None:
    gone = []
    for key, text in _entries().items():
        if not key.endswith("/") or key.rstrip("/") not in LAYERS and "/" not in key.rstrip("/"):
            continue
        for name in re.findall(r"[a-z0-9_]+\.py", text):
            if not list((ROOT / key).rglob(name)) and not (ROOT / key / name).exists():
                gone.append(f"{key}{name}")
    assert gone == []


def test_every_room_is_in_the_layout() -> None:
    entries = _entries()
    rooms = sorted(
        f"{path.parent.relative_to(ROOT)}/"
        for layer in ("postflow", "tasks")
        for path in (ROOT / layer).glob("*/__init__.py")
    )
    assert [room for room in rooms if room not in entries] == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), function-level
    imports included."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_anywhere() -> None:
    assert _cycles(grimp.build_graph(*LAYERS)) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclic import b\n")
    (package / "b.py").write_text("import cyclic.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("cyclic")) == [["cyclic.a", "cyclic.b"]]
