"""resolve_shot_folder: one folder per level, and whether every level came from the cache.

The cache outcome is read from whether each level's task body ran, not from a state name; these
tests run the real Prefect task (test server) against the loopback Frame.io sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from frameio import Frameio

from blocks.frameio_project import Asset, FrameioProject
from config.settings import PostflowSettings
from tasks.structure.folders import ensure_child_folder, find_folder, resolve_shot_folder
from tasks.structure.naming import load_nomenclature

pytestmark = pytest.mark.slow

NO_RETRY = {"retries": 0}


@pytest.fixture
def env(prefect_harness, sandbox, tmp_path: Path):
    client = Frameio(base_url=sandbox.url, token=sandbox.issue_access_token())
    project = FrameioProject(client, sandbox.account_id, sandbox.project_id)

    def settings(ttl_seconds: int = 3600) -> PostflowSettings:
        return PostflowSettings(
            frameio_api_base_url=sandbox.url,
            state_dir=tmp_path / "state",
            structure_cache_dir=tmp_path / "cache",
            structure_cache_ttl_seconds=ttl_seconds,
        )

    shot = load_nomenclature().parse("SC01_UNDLM_00412_V002.mov")
    return project, shot, settings


def _folders(project: FrameioProject, parent_id: str) -> dict[str, str]:
    return {a.name: a.id for a in project.list_children(parent_id) if a.type == "folder"}


def test_the_first_resolve_creates_each_level_and_is_not_a_cache_hit(env) -> None:
    project, shot, settings = env
    folder_id, cache_hit = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    assert cache_hit is False
    scenes = _folders(project, project.root_folder_id)
    scene = _folders(project, scenes["SCENES"])
    assert list(scenes) == ["SCENES"] and list(scene) == ["SC01"]
    assert _folders(project, scene["SC01"]) == {"UNDLM_00412": folder_id}


def test_a_second_resolve_is_a_cache_hit_with_the_same_folder(env) -> None:
    project, shot, settings = env
    first, _ = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    second, cache_hit = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    assert cache_hit is True
    assert second == first


def test_refresh_resolves_every_level_again(env) -> None:
    project, shot, settings = env
    first, _ = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    again, cache_hit = resolve_shot_folder(project, shot, settings(), NO_RETRY, refresh=True)
    assert cache_hit is False
    assert again == first


def test_a_zero_ttl_never_reports_a_cache_hit(env) -> None:
    project, shot, settings = env
    resolve_shot_folder(project, shot, settings(ttl_seconds=0), NO_RETRY)
    _, cache_hit = resolve_shot_folder(project, shot, settings(ttl_seconds=0), NO_RETRY)
    assert cache_hit is False


def test_a_partly_cached_path_is_not_a_cache_hit(env) -> None:
    project, shot, settings = env
    first, _ = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    sibling = load_nomenclature().parse("SC01_BRAVO_00001_V001.mov")
    folder_id, cache_hit = resolve_shot_folder(project, sibling, settings(), NO_RETRY)
    assert cache_hit is False
    assert folder_id != first


def _folder(name: str, created_at: str = "2024-01-01T00:00:00+00:00", id_: str = "") -> Asset:
    return Asset(id_ or name, name, "folder", "https://example.invalid", created_at)


def test_find_folder_matches_a_name_that_differs_only_in_case() -> None:
    assert find_folder([_folder("sc01")], "SC01") == _folder("sc01")


def test_find_folder_matches_across_unicode_normalisation_and_case() -> None:
    nfd = _folder("e\u0301TE\u0301")  # "éTÉ" decomposed (as macOS writes it)
    assert find_folder([nfd], "\u00c9T\u00e9") == nfd


def test_find_folder_keeps_the_oldest_of_several_case_variants() -> None:
    newer = _folder("SC01", "2024-02-01T00:00:00+00:00")
    older = _folder("sc01", "2024-01-01T00:00:00+00:00")
    assert find_folder([newer, older], "Sc01") == older


def test_find_folder_ignores_files_and_other_names() -> None:
    file = Asset("f", "SC01", "file", "https://example.invalid", "2024-01-01T00:00:00+00:00")
    assert find_folder([file, _folder("SC010")], "SC01") is None


def test_a_hand_made_lower_case_folder_is_reused_not_duplicated(env) -> None:
    project, _, _ = env
    scenes = project.create_folder(project.root_folder_id, "SCENES").id
    hand_made = project.create_folder(scenes, "sc01").id
    assert ensure_child_folder(project, scenes, "SC01") == hand_made
    assert _folders(project, scenes) == {"sc01": hand_made}


def test_same_named_folders_are_reported_and_the_oldest_is_used(env, caplog) -> None:
    project, _, settings = env
    scenes = project.create_folder(project.root_folder_id, "SCENES").id
    oldest = project.create_folder(scenes, "SC01").id
    twin = project.create_folder(scenes, "sc01").id
    with caplog.at_level("WARNING", logger="postflow.structure"):
        assert ensure_child_folder(project, scenes, "SC01", settings()) == oldest
    assert f"2 folders named 'SC01' in folder {scenes}" in caplog.text and twin in caplog.text


def test_refresh_does_not_trust_a_stored_listing_naming_a_folder_that_is_gone(env) -> None:
    from dataclasses import replace

    from tasks.structure.listings import ListingStore

    project, shot, settings = env
    folder_id, _ = resolve_shot_folder(project, shot, settings(), NO_RETRY)
    scene_id = next(a.id for _, a in project.walk() if a.name == shot.scene)
    store = ListingStore(settings())
    stale = store.get(scene_id)  # as if the shot folder had been deleted by hand since
    gone = replace(next(c for c in stale.children if c.id == folder_id), id="gone")
    store.put(replace(stale, children=(gone,)))
    assert resolve_shot_folder(project, shot, settings(ttl_seconds=0), NO_RETRY)[0] == "gone"
    again, _ = resolve_shot_folder(project, shot, settings(), NO_RETRY, refresh=True)
    assert again == folder_id
