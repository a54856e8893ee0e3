"""Rerun of failed shots through the Prefect API, after the sandbox stops failing."""

from __future__ import annotations

import pytest

from flows.ingest import ingest_file
from flows.rerun import rerun_failed_shots
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration


def test_failed_shot_is_rerun_once_the_sandbox_recovers(pipeline, postflow_env):
    postflow_env(task_retries=0)
    good = make_file(pipeline.by_shot, "SC05_RERUN_00001_V001.mov", 120_000, seed=1)
    other = make_file(pipeline.by_shot, "SC06_OTHER_00001_V001.mov", 120_000, seed=2)
    pipeline.sandbox.inject_status(403, count=2, path=r".*/files/local_upload$")
    assert ingest_file(str(good), return_state=True).is_failed()
    assert ingest_file(str(other), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()

    preview = rerun_failed_shots(since="1h", scene="SC05", dry_run=True)
    rows = rerun_failed_shots(since="1h", scene="SC05")
    again = rerun_failed_shots(since="1h", scene="SC05")

    assert [r["action"] for r in preview] == ["would rerun"]
    assert rows == [
        {"path": str(good), "scene": "SC05", "shot": "RERUN_00001", "action": "rerun: Completed"}
    ]
    assert again == []  # it landed: nothing left to rerun
    assert [f.name for f in all_files(pipeline.project())] == ["SC05_RERUN_00001_V001.mov"]
