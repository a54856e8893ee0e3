"""The soak's verdict, read from the sandbox's own tree (names, stack order, SHA-256 of bytes).

A shot folder holds its files loose (one version) or in one version stack, listed bottom to
top (the last is the head). Every count below is over that tree:

- landed_once: good files present exactly once, in their shot, with the final source bytes;
- duplicates: copies of a name beyond the expected one (two for a re-render: the old version
  keeps its review comments), plus good bytes found outside their shot;
- partial_left: files whose bytes are no complete source's bytes (or never completed);
- wrong_stack_heads: shots with several files whose head is not the highest version (or whose
  files are not all in one stack);
- stale_bytes: re-rendered names whose topmost copy does not hold the re-rendered bytes;
- symlinks_uploaded: files holding a symlink target's bytes or named as a symlink.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from soak_files import SYMLINK_NAMES, GoodFile, Hostiles, sha256

__all__ = ["DEFECTS", "Landed", "count_defects", "landed_files"]

DEFECTS = (
    "duplicates",
    "partial_left",
    "wrong_stack_heads",
    "stale_bytes",
    "symlinks_uploaded",
    "processes_left",
)
_VERSION = re.compile(r"_V(\d+)\.[^.]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Landed:
    """One file in Frame.io: its shot folder path, name, bytes digest and stack position."""

    shot: str
    name: str
    sha256: str | None
    stack_id: str | None
    position: int  # in its stack, 0 = bottom; 0 for a loose file


def landed_files(tree: dict[str, Any]) -> list[Landed]:
    """Every file of the sandbox tree (see ``postflow.sandbox.admin.tree_snapshot``)."""
    out: list[Landed] = []

    def walk(node: dict[str, Any], path: list[str]) -> None:
        for child in node["children"]:
            if child["type"] == "folder":
                walk(child, [*path, child["name"]])
            elif child["type"] == "file":
                out.append(Landed("/".join(path), child["name"], _digest(child), None, 0))
            else:
                for position, version in enumerate(child["versions"]):
                    digest = _digest(version)
                    out.append(
                        Landed("/".join(path), version["name"], digest, child["id"], position)
                    )

    walk(tree["root"], [])
    return out


def _digest(node: dict[str, Any]) -> str | None:
    return node["sha256"] if node["upload_complete"] else None


def all_landed(files: list[Landed], goods: list[GoodFile]) -> bool:
    """Whether every good file's final bytes are in its shot."""
    present = {(f.shot, f.name, f.sha256) for f in files}
    return all((g.shot, g.name, sha256(g.data)) in present for g in goods)


def landed_once(files: list[Landed], good: GoodFile) -> bool:
    """Whether ``good``'s final bytes are in its shot exactly once."""
    final = sha256(good.data)
    return sum(1 for f in files if (f.shot, f.name, f.sha256) == (good.shot, good.name, final)) == 1


def count_defects(files: list[Landed], goods: list[GoodFile], hostiles: Hostiles) -> dict:
    """landed_once, duplicates, partial_left, wrong_stack_heads, stale_bytes, symlinks_uploaded."""
    by_name: dict[tuple[str, str], list[Landed]] = defaultdict(list)
    for landed in files:
        by_name[(landed.shot, landed.name)].append(landed)
    complete = {sha256(g.data) for g in goods} | {sha256(g.original) for g in goods if g.original}
    expected = {(g.shot, g.name): g for g in goods}
    allowed = complete | hostiles.symlink_target_sha256  # symlinks are counted on their own
    counts = {
        "landed_once": sum(1 for g in goods if landed_once(files, g)),
        "duplicates": sum(
            max(0, len(copies) - (2 if expected[key].original else 1))
            if key in expected
            else sum(1 for f in copies if f.sha256 in complete)
            for key, copies in by_name.items()
        ),
        "partial_left": sum(1 for f in files if f.sha256 not in allowed),
        "wrong_stack_heads": _wrong_heads(files),
        "stale_bytes": sum(1 for g in goods if g.original and _stale(by_name[(g.shot, g.name)], g)),
        "symlinks_uploaded": sum(
            1
            for f in files
            if f.sha256 in hostiles.symlink_target_sha256 or f.name in SYMLINK_NAMES
        ),
    }
    return counts


def _stale(copies: list[Landed], good: GoodFile) -> bool:
    if not copies:
        return True
    top = max(copies, key=lambda f: f.position)
    return top.sha256 != sha256(good.data)


def _wrong_heads(files: list[Landed]) -> int:
    by_shot: dict[str, list[Landed]] = defaultdict(list)
    for landed in files:
        by_shot[landed.shot].append(landed)
    wrong = 0
    for members in by_shot.values():
        if len(members) < 2:
            continue
        stacks = {f.stack_id for f in members}
        if len(stacks) != 1 or None in stacks:
            wrong += 1
            continue
        head = max(members, key=lambda f: f.position)
        if _version(head.name) != max(_version(f.name) for f in members):
            wrong += 1
    return wrong


def _version(name: str) -> int:
    match = _VERSION.search(name)
    return int(match.group(1)) if match else -1
