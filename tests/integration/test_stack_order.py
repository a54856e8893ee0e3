"""Stack order = version order: the head of a shot's stack is its highest version, whatever the
order files arrive in (issue 9). Ingests run against the sandbox; the head is read through the
SDK (``version_stacks.show``), the order through ``version_stacks.index`` (bottom to top).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from frameio.files import FileMoveParamsData

from blocks.frameio_project import FrameioProject
from flows.ingest import ingest_file
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V{:03d}.mov"


def _ingest(by_shot: Path, version: int, size: int = 200_000) -> dict:
    return ingest_file(str(make_file(by_shot, NAME.format(version), size, seed=version)))


def _stack(project: FrameioProject, folder_id: str) -> str:
    [stack] = [a for a in project.list_children(folder_id) if a.type == "version_stack"]
    return stack.id


def _head_name(project: FrameioProject, stack_id: str) -> str:
    shown = project.client.version_stacks.show(project.account_id, stack_id).data
    return shown.head_version.name


def _order(project: FrameioProject, stack_id: str) -> list[str]:
    return [v.name for v in project.client.version_stacks.index(project.account_id, stack_id)]


def test_a_late_lower_version_does_not_become_the_head(pipeline) -> None:
    results = [_ingest(pipeline.by_shot, v) for v in (2, 3, 1)]
    project = pipeline.project()
    stack = _stack(project, results[0]["folder_id"])
    assert _head_name(project, stack) == NAME.format(3)
    assert _order(project, stack) == [NAME.format(v) for v in (1, 2, 3)]
    assert len(all_files(project)) == 3


def test_concurrent_ingests_make_one_stack_headed_by_the_highest_version(pipeline) -> None:
    # V001 is the largest, so it tends to finish last: the arrival order that used to win.
    sizes = {1: 1_500_000, 2: 600_000, 3: 100_000}
    paths = [make_file(pipeline.by_shot, NAME.format(v), sizes[v], seed=v) for v in (2, 3, 1)]
    with ThreadPoolExecutor(3) as pool:
        states = list(pool.map(lambda p: ingest_file(str(p), return_state=True), paths))
    assert all(state.is_completed() for state in states)
    project = pipeline.project()
    stack = _stack(project, states[0].result()["folder_id"])
    assert _head_name(project, stack) == NAME.format(3)
    assert sorted(_order(project, stack)) == [NAME.format(v) for v in (1, 2, 3)]
    assert len(all_files(project)) == 3


def test_a_rerun_of_a_lower_version_changes_nothing(pipeline) -> None:
    results = [_ingest(pipeline.by_shot, v) for v in (2, 3, 1)]
    project = pipeline.project()
    stack = _stack(project, results[0]["folder_id"])
    before = _order(project, stack)
    moves = pipeline.sandbox.stats()["requests_by_route"].get("files.move", 0)
    again = ingest_file(str(pipeline.by_shot / NAME.format(1)))
    assert again["strategy"] == "skipped" and again["file_id"] == results[2]["file_id"]
    assert _order(project, stack) == before
    assert pipeline.sandbox.stats()["requests_by_route"].get("files.move", 0) == moves


def test_a_rerun_repairs_a_stack_whose_head_is_not_the_highest_version(pipeline) -> None:
    results = [_ingest(pipeline.by_shot, v) for v in (1, 2, 3)]
    project = pipeline.project()
    folder_id = results[0]["folder_id"]
    stack = _stack(project, folder_id)
    move = project.client.files.move  # another client puts V001 on top
    move(project.account_id, results[0]["file_id"], data=FileMoveParamsData(parent_id=folder_id))
    move(project.account_id, results[0]["file_id"], data=FileMoveParamsData(parent_id=stack))
    assert _head_name(project, stack) == NAME.format(1)
    ingest_file(str(pipeline.by_shot / NAME.format(2)))
    assert _head_name(project, stack) == NAME.format(3)
    assert len(all_files(project)) == 3
