"""FolderListing and ListingStore: what a stored listing keeps, for how long, and what it drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.frameio_project import Asset
from config.settings import PostflowSettings
from tasks.structure.listings import FolderListing, ListingStore


def _file(name: str, id_: str, status: str = "uploaded") -> Asset:
    return Asset(id_, name, "file", "https://x/" + id_, "2026-01-01T00:00:0" + id_[-1], 10, status)


def _stack(id_: str, head: str) -> Asset:
    return Asset(id_, "stack", "version_stack", "https://x/" + id_, "2026-01-01", None, None, head)


V1, V2, V3 = _file("V001.mov", "f1"), _file("V002.mov", "f2"), _file("V003.mov", "f3")


def _settings(
    tmp_path: Path, kind: str = "file", ttl: int = 300, redis_url: str = "redis://localhost:1/0"
) -> PostflowSettings:
    return PostflowSettings(
        state_dir=tmp_path / "state",
        lock_manager=kind,
        folder_listing_ttl_seconds=ttl,
        redis_url=redis_url,
    )


def test_moves_and_stacking_are_recorded_head_on_top() -> None:
    listing = FolderListing("shot", (V1, V2), {}, 0.0)
    stacked = listing.stacked(_stack("s1", "f2"), [V1, V2]).added(V3)
    assert stacked.loose_files() == [V3] and stacked.members["s1"] == (V1, V2)
    moved = stacked.moved(V3, "s1")
    assert moved.loose_files() == [] and moved.members["s1"] == (V1, V2, V3)
    assert moved.head_of("s1") == "f3" and moved.in_stack("f3")
    out = moved.moved(V3, "shot")
    assert out.loose_files() == [V3] and out.members["s1"] == (V1, V2)


def test_a_fresh_listing_keeps_stack_files_only_while_the_head_is_the_same() -> None:
    stored = FolderListing("shot", (_stack("s1", "f2"),), {"s1": (V1, V2)}, 0.0)
    same = FolderListing.fresh("shot", [_stack("s1", "f2")], stored, 10.0)
    assert same.members == {"s1": (V1, V2)} and same.listed_at == 10.0
    changed = FolderListing.fresh("shot", [_stack("s1", "f3")], stored, 10.0)
    assert changed.members == {}  # someone moved a file in: the stack must be listed


def _round_trip(store: ListingStore, now: list[float]) -> None:
    listing = FolderListing("shot", (_stack("s1", "f2"), V3), {"s1": (V1, V2)}, now[0])
    store.put(listing)
    assert store.get("shot") == listing
    now[0] += 299
    assert store.get("shot") == listing
    now[0] += 1
    assert store.get("shot") is None
    store.put(listing)
    now[0] -= 1
    store.forget("shot")
    assert store.get("shot") is None


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_stored_listing_round_trips_until_its_ttl(tmp_path: Path, kind: str) -> None:
    now = [1000.0]
    _round_trip(ListingStore(_settings(tmp_path, kind), clock=lambda: now[0]), now)


def test_redis_shares_listings_between_stores(tmp_path: Path) -> None:
    from tests.integration.scale_out_peers import redis_server

    now = [1000.0]
    with redis_server(tmp_path) as url:
        settings = _settings(tmp_path, "redis", redis_url=url)
        one, other = (ListingStore(settings, clock=lambda: now[0]) for _ in range(2))
        one.put(FolderListing("shot", (V1,), {}, now[0]))
        assert other.get("shot") == FolderListing("shot", (V1,), {}, now[0])
        _round_trip(one, now)


def test_an_unreachable_redis_means_listing_again_not_failing(tmp_path: Path) -> None:
    store = ListingStore(_settings(tmp_path, "redis"))  # nothing listens on port 1
    store.put(FolderListing("shot", (V1,), {}, store.clock()))
    assert store.get("shot") is None


def test_a_zero_ttl_keeps_nothing(tmp_path: Path) -> None:
    store = ListingStore(_settings(tmp_path, ttl=0))
    store.put(FolderListing("shot", (V1,), {}, store.clock()))
    assert store.get("shot") is None


def test_a_corrupt_or_foreign_listing_file_reads_as_none(tmp_path: Path) -> None:
    store = ListingStore(_settings(tmp_path))
    store.put(FolderListing("shot", (V1,), {}, store.clock()))
    [path] = (tmp_path / "state" / "locks" / "listings").glob("*.json")
    path.write_text('{"folder_id": "shot", "children": [{"id": 1}]}')
    assert store.get("shot") is None
    path.write_text("not json")
    assert store.get("shot") is None
