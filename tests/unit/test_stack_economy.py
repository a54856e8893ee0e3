"""Stacking reads the head back once, and only when it changed something (API economy), and
still notices a head that is not the highest version."""

from __future__ import annotations

import pytest

from blocks.frameio_project import Asset
from config.settings import PostflowSettings
from core.errors import FrameioTransientError
from tasks.structure.naming import load_nomenclature
from tasks.upload.stack import add_to_version_stack


def _file(version: int, created: str) -> Asset:
    name = f"SC01_UNDLM_00412_V{version:03d}.mov"
    return Asset(f"f{version}", name, "file", "", created, 10, "uploaded")


class Folder:
    """A shot folder with one stack; moving a file into the stack puts it on top, unless
    ``sticky_head`` (someone else keeps reordering it)."""

    def __init__(self, versions: list[Asset], loose: list[Asset], sticky_head: bool = False):
        self.versions, self.loose, self.sticky_head = versions, loose, sticky_head
        self.calls: list[str] = []

    def list_children(self, folder_id: str) -> list[Asset]:
        self.calls.append("list_children")
        stack = Asset(
            "s1", "stack", "version_stack", "", "2026-01-01", None, None, self.versions[-1].id
        )
        return [stack, *self.loose]

    def list_versions(self, stack_id: str) -> list[Asset]:
        self.calls.append("list_versions")
        return list(self.versions)

    def move_file(self, file_id: str, parent_id: str) -> None:
        self.calls.append("move_file")
        asset = next(a for a in self.versions + self.loose if a.id == file_id)
        for group in (self.versions, self.loose):
            if asset in group:
                group.remove(asset)
        if parent_id == "s1":
            self.versions.insert(0 if self.sticky_head else len(self.versions), asset)
        else:
            self.loose.append(asset)

    def show_version_stack(self, stack_id: str) -> Asset:
        self.calls.append("show_version_stack")
        return Asset("s1", "stack", "version_stack", "", "", None, None, self.versions[-1].id)


@pytest.fixture
def rules():
    settings = PostflowSettings()
    return load_nomenclature(settings.nomenclature_path, settings.extensions, (), 0)


def _add(folder: Folder, file: Asset, rules) -> str | None:
    shot = rules.parse(file.name)
    return add_to_version_stack(folder, "shot", file, shot, rules)  # type: ignore[arg-type]


def test_a_new_top_version_costs_one_read_back(rules) -> None:
    v1, v2 = _file(1, "2026-01-01T00:00:01"), _file(2, "2026-01-01T00:00:02")
    folder = Folder([v1], [v2])
    assert _add(folder, v2, rules) == "s1"
    assert folder.versions == [v1, v2]
    assert folder.calls.count("show_version_stack") == 1
    assert folder.calls.count("list_versions") == 1  # the read, no second listing


def test_an_ordered_stack_is_left_alone_without_a_read_back(rules) -> None:
    v1, v2 = _file(1, "2026-01-01T00:00:01"), _file(2, "2026-01-01T00:00:02")
    folder = Folder([v1, v2], [])
    _add(folder, v1, rules)
    assert "move_file" not in folder.calls and "show_version_stack" not in folder.calls


def test_a_head_that_is_not_the_highest_after_two_passes_is_a_transient_error(rules) -> None:
    v1, v2 = _file(1, "2026-01-01T00:00:01"), _file(2, "2026-01-01T00:00:02")
    folder = Folder([v1], [v2], sticky_head=True)
    with pytest.raises(FrameioTransientError, match="after two passes"):
        _add(folder, v2, rules)


def test_once_a_moved_file_went_on_top_later_moves_are_not_read_back(rules) -> None:
    v1, v2, v3 = (_file(n, f"2026-01-01T00:00:0{n}") for n in (1, 2, 3))
    folder = Folder([v1], [v2])
    _add(folder, v2, rules)
    folder.loose.append(v3)
    folder.calls.clear()
    assert _add(folder, v3, rules) == "s1"
    assert folder.versions == [v1, v2, v3]
    assert "show_version_stack" not in folder.calls


def test_a_head_that_disagreed_once_is_read_back_every_time(rules) -> None:
    v1, v2, v3 = (_file(n, f"2026-01-01T00:00:0{n}") for n in (1, 2, 3))
    with pytest.raises(FrameioTransientError):
        _add(Folder([v1], [v2], sticky_head=True), v2, rules)
    folder = Folder([v1, v2], [v3])
    _add(folder, v3, rules)
    assert folder.calls.count("show_version_stack") == 1
