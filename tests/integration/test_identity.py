"""File identity = content (issue 9): a re-render written in place with the same size is a new
version on top of the shot's stack; the same content is never sent twice."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import xxhash

from blocks.frameio_project import FrameioProject
from flows.ingest import ingest_file
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V001.mov"
SIZE = 300_000


def _rewrite_in_place(path: Path, seed: int) -> None:
    """Write other bytes of the same size into ``path`` and move its mtime on by 2 s."""
    before = path.stat()
    make_file(path.parent, path.name, before.st_size, seed=seed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))


def _head_id(project: FrameioProject, stack_id: str) -> str:
    return project.client.version_stacks.show(project.account_id, stack_id).data.head_version.id


def test_a_same_size_re_render_becomes_a_new_version_on_top(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    first = ingest_file(str(path))
    _rewrite_in_place(path, seed=2)
    second = ingest_file(str(path))
    assert second["strategy"] != "skipped" and second["re_render"] is True
    assert second["file_id"] != first["file_id"]
    assert pipeline.sandbox.stored_bytes(second["file_id"]) == path.read_bytes()
    project = pipeline.project()
    assert _head_id(project, second["version_stack_id"]) == second["file_id"]
    assert {f.id for f in all_files(project)} == {first["file_id"], second["file_id"]}


def test_the_discord_message_of_a_re_render_says_so(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    ingest_file(str(path))
    _rewrite_in_place(path, seed=2)
    ingest_file(str(path))
    first, second = pipeline.discord.wait_for(2, timeout_seconds=10)
    assert "re-render" not in first["payload"]["embeds"][0]["title"]
    assert "re-render" in second["payload"]["embeds"][0]["title"]


def test_the_same_content_with_a_new_mtime_is_not_sent_again(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    first = ingest_file(str(path))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    second = ingest_file(str(path))
    assert second["strategy"] == "skipped" and second["re_render"] is False
    assert second["file_id"] == first["file_id"]
    assert len(all_files(pipeline.project())) == 1


def test_the_fingerprint_is_the_xxh3_128_of_the_source(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    result = ingest_file(str(path))
    assert result["fingerprint"] == xxhash.xxh3_128_hexdigest(path.read_bytes())


def test_without_a_local_record_name_and_size_still_mean_uploaded(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    first = ingest_file(str(path))
    shutil.rmtree(os.environ["POSTFLOW_STATE_DIR"])  # first run on an existing project
    second = ingest_file(str(path))
    assert second["strategy"] == "skipped" and second["file_id"] == first["file_id"]
    assert len(all_files(pipeline.project())) == 1


def test_a_re_render_after_adopting_an_existing_file_is_uploaded(pipeline) -> None:
    path = make_file(pipeline.by_shot, NAME, SIZE, seed=1)
    ingest_file(str(path))
    shutil.rmtree(os.environ["POSTFLOW_STATE_DIR"])
    ingest_file(str(path))  # adopted by name + size: recorded, not sent
    _rewrite_in_place(path, seed=2)
    third = ingest_file(str(path))
    assert third["re_render"] is True
    assert pipeline.sandbox.stored_bytes(third["file_id"]) == path.read_bytes()
    assert len(all_files(pipeline.project())) == 2


def test_a_partial_upload_is_replaced_by_the_complete_file_and_deleted(pipeline) -> None:
    # A writer paused past the settle window: its first half was ingested as if complete.
    full = make_file(pipeline.by_shot.parent, "full.bin", SIZE, seed=5).read_bytes()
    path = pipeline.by_shot / NAME
    path.write_bytes(full[: SIZE // 2])
    partial = ingest_file(str(path))
    with path.open("ab") as handle:  # the writer resumes and finishes the file
        handle.write(full[SIZE // 2 :])
    complete = ingest_file(str(path))
    files = all_files(pipeline.project())
    assert [f.id for f in files] == [complete["file_id"]]
    assert pipeline.sandbox.stored_bytes(complete["file_id"]) == full
    assert complete["re_render"] is False and partial["file_id"] != complete["file_id"]
