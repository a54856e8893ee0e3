"""The ingest flow end to end against the sandbox, a Prefect test server and a Discord receiver."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import xxhash

from flows.ingest import ingest_file
from tests.integration.helpers import all_files, make_file, sha256_of, tree_paths

pytestmark = pytest.mark.integration

SEEDS = [
    ("SC01_UNDLM_00412_V002.mov", "SCENES/SC01/UNDLM_00412"),
    (
        "13H49_-_RECUPERATION_DES_2_SURVIVANTS_S01_V001.mov",
        "SCENES/13H49_-_RECUPERATION_DES_2_SURVIVANTS/S01",
    ),
    (
        "2EME_MAYDAY_EXT_-_NUIT_AMERICAINE_S03_V005.mp4",
        "SCENES/2EME_MAYDAY_EXT_-_NUIT_AMERICAINE/S03",
    ),
]


def _stored_sha(sandbox, file_id: str) -> str:
    return hashlib.sha256(sandbox.stored_bytes(file_id)).hexdigest()


def test_seed_files_land_in_their_shot_folders_with_equal_bytes(pipeline):
    sources = [
        make_file(pipeline.by_shot, name, 700_000 + i, seed=i) for i, (name, _) in enumerate(SEEDS)
    ]
    results = [ingest_file(str(path)) for path in sources]
    tree = tree_paths(pipeline.project())
    for (name, folder), source, result in zip(SEEDS, sources, results, strict=True):
        assert [a.name for a in tree[folder]] == [name]
        assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)
        assert result["fingerprint"] == xxhash.xxh3_128_hexdigest(source.read_bytes())
        assert result["parts"] >= 3


def test_each_ingest_posts_a_discord_embed_with_link_and_speed(pipeline):
    path = make_file(pipeline.by_shot, SEEDS[0][0], 300_000)
    result = ingest_file(str(path))
    [message] = pipeline.discord.wait_for(1, timeout_seconds=10)
    embed = message["payload"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["url"] == result["view_url"]
    assert fields["Scene"] == "SC01" and fields["Shot"] == "UNDLM_00412"
    assert fields["Version"] == "V002"
    assert "MB/s" in fields["Speed"]


def test_ingesting_the_same_file_twice_uploads_it_once(pipeline):
    path = make_file(pipeline.by_shot, SEEDS[0][0], 400_000)
    first = ingest_file(str(path))
    second = ingest_file(str(path))
    assert first["strategy"] == "multipart"
    assert second["strategy"] == "skipped"
    assert second["file_id"] == first["file_id"]
    assert len(all_files(pipeline.project())) == 1


def test_new_versions_build_the_shots_version_stack(pipeline):
    for version in (1, 2, 3):
        ingest_file(str(make_file(pipeline.by_shot, f"SC01_UNDLM_00412_V00{version}.mov", 200_000)))
    tree = tree_paths(pipeline.project())
    shot = tree["SCENES/SC01/UNDLM_00412"]
    assert [a.type for a in shot] == ["version_stack"]
    versions = tree[f"SCENES/SC01/UNDLM_00412/{shot[0].name}#stack"]
    assert sorted(a.name for a in versions) == [f"SC01_UNDLM_00412_V00{v}.mov" for v in (1, 2, 3)]


def test_twenty_concurrent_files_of_two_new_shots_make_one_folder_each(pipeline):
    paths = [
        make_file(pipeline.by_shot, f"SC07_{shot}_00001_V{v:03d}.mov", 40_000 + v, seed=v)
        for shot in ("ALPHA", "BRAVO")
        for v in range(1, 11)
    ]
    with ThreadPoolExecutor(8) as pool:
        states = list(pool.map(lambda p: ingest_file(str(p), return_state=True), paths))
    assert all(state.is_completed() for state in states)
    tree = tree_paths(pipeline.project())
    assert [a.name for a in tree[""]] == ["SCENES"]
    assert [a.name for a in tree["SCENES"]] == ["SC07"]
    assert sorted(a.name for a in tree["SCENES/SC07"]) == ["ALPHA_00001", "BRAVO_00001"]
    assert len(all_files(pipeline.project())) == 20


def test_transient_api_errors_are_retried_and_leave_no_duplicate(pipeline):
    sandbox = pipeline.sandbox
    sandbox.inject_status(503, count=2, path=r".*/folders/.*/folders$", method="POST")
    sandbox.inject_status(429, count=2, path=r".*/files/local_upload$", retry_after_seconds=1)
    result = ingest_file(str(make_file(pipeline.by_shot, SEEDS[0][0], 300_000)))
    tree = tree_paths(pipeline.project())
    assert [a.name for a in tree["SCENES"]] == ["SC01"]
    assert [a.name for a in tree["SCENES/SC01"]] == ["UNDLM_00412"]
    assert [a.id for a in all_files(pipeline.project())] == [result["file_id"]]


def test_dropped_part_connections_are_retried_and_bytes_match(pipeline):
    pipeline.sandbox.inject_drop(count=2, path=r"^/_upload/")
    source = make_file(pipeline.by_shot, SEEDS[0][0], 900_000)
    result = ingest_file(str(source))
    assert result["retried_parts"] >= 1
    assert _stored_sha(pipeline.sandbox, result["file_id"]) == sha256_of(source)


def test_permanent_error_fails_fast_and_reports_to_discord(pipeline):
    pipeline.sandbox.inject_status(403, count=50, path=r".*/files/local_upload$")
    state = ingest_file(str(make_file(pipeline.by_shot, SEEDS[0][0], 100_000)), return_state=True)
    assert state.is_failed()
    [message] = pipeline.discord.wait_for(1, timeout_seconds=10)
    embed = message["payload"]["embeds"][0]
    assert embed["title"].startswith("Ingest failed")
    assert any(f["value"] == "FrameioAuthError" for f in embed["fields"])
    assert all_files(pipeline.project()) == []


def test_unreadable_name_is_reported_and_not_uploaded(pipeline):
    state = ingest_file(
        str(make_file(pipeline.by_shot, "RANDOM_RENDER_FINAL.mov", 10_000)), return_state=True
    )
    assert state.is_failed()
    assert "Unreadable name" in state.message
    [message] = pipeline.discord.wait_for(1, timeout_seconds=10)
    assert message["payload"]["embeds"][0]["title"] == "Unreadable name: RANDOM_RENDER_FINAL.mov"
    assert all_files(pipeline.project()) == []


def test_an_ingest_records_its_delivery_in_the_mhl_manifest(pipeline):
    from blocks.store import open_store
    from config.settings import PostflowSettings
    from tasks.manifest import DeliveryLog, manifest_root, read_history

    path = make_file(pipeline.by_shot, SEEDS[0][0], 300_000)
    first = ingest_file(str(path))
    again = ingest_file(str(path))  # skipped: not a new delivery
    settings = PostflowSettings()
    [delivery] = DeliveryLog(open_store(settings)).listed()
    assert (delivery.rel_path, delivery.file_id) == (SEEDS[0][0], first["file_id"])
    assert delivery.xxh128 == xxhash.xxh3_128_hexdigest(path.read_bytes())
    [generation] = read_history(manifest_root(settings))
    assert generation.entries == [(SEEDS[0][0], 300_000, delivery.xxh128, "original")]
    assert first["manifest"] == str(generation.file) and again["manifest"] == ""
