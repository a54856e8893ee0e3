"""Rerun of failed shots through the Prefect API, after the sandbox stops failing."""

from __future__ import annotations

import pytest

from flows.ingest import ingest_file
from flows.rerun import rerun_failed_shots
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration


def test_failed_shot_is_rerun_once_the_sandbox_recovers(pipeline, postflow_env):
    postflow_env(task_retries=0)
    good = make_file(pipeline.by_shot, "SC57_RERUN_00001_V001.mov", 120_000, seed=1)
    other = make_file(pipeline.by_shot, "SC06_OTHER_00001_V001.mov", 120_000, seed=2)
    pipeline.sandbox.inject_status(403, count=2, path=r".*/files/local_upload$")
    assert ingest_file(str(good), return_state=True).is_failed()
    assert ingest_file(str(other), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()

    preview = rerun_failed_shots(since="1h", scene="SC57", dry_run=True)
    rows = rerun_failed_shots(since="1h", scene="SC57")
    again = rerun_failed_shots(since="1h", scene="SC57")

    assert [r["action"] for r in preview] == ["would rerun"]
    assert rows == [
        {"path": str(good), "scene": "SC57", "shot": "RERUN_00001", "action": "rerun: Completed"}
    ]
    assert again == []  # it landed: nothing left to rerun
    assert [f.name for f in all_files(pipeline.project())] == ["SC57_RERUN_00001_V001.mov"]


def test_rerun_parses_each_file_with_its_productions_rules_and_filters_case_blind(
    pipeline, postflow_env, tmp_path
):
    """Issue 21: a production with its own rules had its failed files skipped silently (parsed
    with the installation's rules), and ``--scene sc07`` matched nothing."""
    own = tmp_path / "OWN" / "BY_SHOT"
    own.mkdir(parents=True)
    rules = tmp_path / "own-rules.toml"
    rules.write_text(
        "[[rules]]\n"
        'name = "ep_shot"\n'
        "pattern = '(?P<scene>EP\\d{2})-(?P<shot>[A-Z]+\\d{3})-v(?P<version>\\d{3})'\n"
        'folder = "SCENES/{scene}/{shot}"\n'
        'examples = ["EP07-ABC010-v003.mov"]\n'
    )
    (tmp_path / "productions.toml").write_text(
        f'[[production]]\nname = "own"\nwatch_path = "{own}"\n'
        f'frameio_project_id = "{pipeline.sandbox.project_id}"\n'
        f'nomenclature_path = "{rules}"\n'
    )
    postflow_env(task_retries=0, productions_file=tmp_path / "productions.toml")
    failed = make_file(own, "EP07-ABC010-v003.mov", 90_000, seed=3)
    pipeline.sandbox.inject_status(403, count=1, path=r".*/files/local_upload$")
    assert ingest_file(str(failed), return_state=True).is_failed()
    pipeline.sandbox.clear_faults()

    rows = rerun_failed_shots(since="1h", scene="ep07", shot="abc010")

    assert [(r["scene"], r["shot"], r["action"]) for r in rows] == [
        ("EP07", "ABC010", "rerun: Completed")
    ]
    assert rows[0]["production"] == "own"
    assert [f.name for f in all_files(pipeline.project())] == ["EP07-ABC010-v003.mov"]
