"""Small helpers shared by the integration tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from blocks.frameio_project import FrameioProject


def make_file(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    """Write ``size`` pseudo-random bytes (deterministic per seed) to ``folder/name``."""
    path = folder / name
    block = hashlib.sha256(f"{name}:{seed}".encode()).digest() * 4096  # 128 KiB pattern
    with path.open("wb") as handle:
        remaining = size
        while remaining:
            chunk = block[: min(len(block), remaining)]
            handle.write(chunk)
            remaining -= len(chunk)
    return path


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tree_paths(project: FrameioProject) -> dict[str, list]:
    """Map 'SCENES/SC01/SHOT' -> list of assets directly under it (files, stacks, folders);
    version stacks are keyed as '<folder path>/<stack name>#stack'."""
    out: dict[str, list] = {}
    stack: list[str] = []
    for depth, asset in project.walk():
        del stack[depth:]
        parent = "/".join(stack)
        out.setdefault(parent, []).append(asset)
        if asset.type == "folder":
            stack.append(asset.name)
        elif asset.type == "version_stack":
            stack.append(f"{asset.name}#stack")
    return out


def all_files(project: FrameioProject) -> list:
    return [asset for _, asset in project.walk() if asset.type == "file"]
