"""Shared folder listings (tasks/structure/listings.py): the calls a new version costs, and what a
stored
listing must never hide - a file deleted by hand, a file that vanished during a transfer.

Ingests run against the sandbox; calls are counted in its stats, by route.
"""

from __future__ import annotations

from collections import Counter

import pytest

from config.settings import PostflowSettings
from flows.ingest import ingest_file
from tasks.structure.naming import load_nomenclature
from tasks.upload.job import UploadJob
from tasks.upload.run import run_upload
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V{:03d}.mov"
STORAGE = {"upload.put_part"}


def _routes(pipeline) -> Counter[str]:
    return Counter(pipeline.sandbox.stats()["requests_by_route"])


def _api_calls_of(pipeline, action) -> Counter[str]:
    before = _routes(pipeline)
    action()
    delta = _routes(pipeline) - before
    return Counter({r: n for r, n in delta.items() if r not in STORAGE})


def _ingest(pipeline, version: int) -> dict:
    path = make_file(pipeline.by_shot, NAME.format(version), 150_000, seed=version)
    return ingest_file(str(path))


def _stack_names(project, folder_id: str) -> tuple[str, list[str]]:
    [stack] = [a for a in project.list_children(folder_id) if a.type == "version_stack"]
    head = project.show_version_stack(stack.id).head_version_id
    files = project.list_versions(stack.id)
    return next(f.name for f in files if f.id == head), [f.name for f in files]


def test_a_new_top_version_costs_one_listing_one_move_and_no_read_back(pipeline) -> None:
    for version in (1, 2, 3):  # V003's move is the process's first: its head is read back once
        _ingest(pipeline, version)
    calls = _api_calls_of(pipeline, lambda: _ingest(pipeline, 4))
    # The structure cache is off in this fixture: SCENES and SC01 are found in their shared
    # listings, the shot folder is listed once (is V004 there?), the stack is not listed; the
    # stored file is read once, to check its size against the bytes sent (issue 19).
    assert calls == Counter(
        {
            "folders.index": 1,
            "files.local_upload": 1,
            "files.status": 1,
            "files.show": 1,
            "files.move": 1,
        }
    )
    project = pipeline.project()
    folder_id = _ingest(pipeline, 1)["folder_id"]
    assert _stack_names(project, folder_id) == (
        NAME.format(4),
        [NAME.format(v) for v in (1, 2, 3, 4)],
    )


def test_new_scenes_under_scenes_list_it_once(pipeline) -> None:
    calls = _api_calls_of(
        pipeline,
        lambda: [_ingest_name(pipeline, f"SC0{n}_UNDLM_0000{n}_V001.mov") for n in (1, 2, 3)],
    )
    # root once, SCENES once (SC02 and SC03 are known absent from its listing), each new scene
    # once, each shot folder once before its upload.
    assert calls["folders.index"] == 1 + 1 + 3 + 3
    assert calls["folders.create"] == 1 + 3 + 3


def _ingest_name(pipeline, name: str) -> dict:
    return ingest_file(str(make_file(pipeline.by_shot, name, 50_000)))


def test_a_version_deleted_by_hand_from_inside_the_stack_is_uploaded_again(pipeline) -> None:
    results = {v: _ingest(pipeline, v) for v in (1, 2, 3)}
    project = pipeline.project()
    project.delete_file(results[2]["file_id"])  # by hand: the head (V003) does not change
    again = ingest_file(str(pipeline.by_shot / NAME.format(2)))
    assert again["strategy"] == "multipart" and again["file_id"] != results[2]["file_id"]
    head, names = _stack_names(project, results[1]["folder_id"])
    assert head == NAME.format(3) and sorted(names) == [NAME.format(v) for v in (1, 2, 3)]
    assert len(all_files(project)) == 3


def test_a_file_deleted_during_a_transfer_does_not_break_the_stacking(pipeline) -> None:
    first = _ingest(pipeline, 1)
    settings = PostflowSettings()
    rules = load_nomenclature()
    project = pipeline.project()
    path = make_file(pipeline.by_shot, NAME.format(2), 3_000_000, seed=2)
    deleted: list[str] = []

    def by_hand_meanwhile(_bytes: int) -> None:  # the stored listing still holds V001
        if not deleted:
            deleted.append(first["file_id"])
            project.delete_file(first["file_id"])

    job = UploadJob(str(path), rules.parse(path.name), first["folder_id"], rules, settings)
    result = run_upload(project, job, progress=by_hand_meanwhile)
    assert deleted and result.version_stack_id is None  # the shot holds one version now
    children = project.list_children(first["folder_id"])
    assert [(c.type, c.name) for c in children] == [("file", NAME.format(2))]
