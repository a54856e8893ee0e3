"""Expected errors inside an ingest run (bad configuration, bad input): the run ends Failed
with one line as its state message, no traceback in its log, nothing sent to Frame.io."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from core.errors import ConfigurationError
from flows.ingest import ingest_file
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration

NAME = "SC01_UNDLM_00412_V002.mov"


def _run_log(state) -> str:
    for handler in {
        h for lg in logging.Logger.manager.loggerDict.values() for h in getattr(lg, "handlers", [])
    }:
        if isinstance(handler, APILogHandler):
            handler.flush()  # logs go to the API in batches
    with get_client(sync_client=True) as client:
        only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        return "\n".join(log.message for log in client.read_logs(log_filter=only))


def _assert_failed_in_one_line(state, *parts: str) -> None:
    assert state.is_failed()
    assert "\n" not in state.message and all(part in state.message for part in parts), state
    log = _run_log(state)
    assert "Traceback" not in log, log


def _assert_one_message(pipeline, name: str) -> None:
    """The failed run's own red message, the only one for the file (the ingest-failed
    automation announces crashed runs only: issue 21, one message per bad file)."""
    titles = [m["payload"]["embeds"][0]["title"] for m in pipeline.discord.messages]
    assert [t for t in titles if name in t] == [f"Ingest failed: {name}"], titles


def test_a_rule_without_a_version_group_fails_the_run_in_one_line(pipeline, postflow_env, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'extensions = [".mov"]\n[[rules]]\nname = "no_version"\n'
        "pattern = '(?P<scene>SC\\d+)_(?P<shot>[A-Z0-9]+_\\d+)_V\\d+'\n"
    )
    postflow_env(nomenclature_path=rules)
    state = ingest_file(str(make_file(pipeline.by_shot, NAME, 10_000)), return_state=True)
    _assert_failed_in_one_line(state, str(rules), "no_version", "version")
    _assert_one_message(pipeline, NAME)
    assert isinstance(state.result(raise_on_failure=False), ConfigurationError)
    assert all_files(pipeline.project()) == []


def test_a_file_in_no_productions_folder_fails_the_run_in_one_line(
    pipeline, postflow_env, tmp_path: Path
):
    other = tmp_path / "OTHER"
    other.mkdir()
    productions = tmp_path / "productions.toml"
    productions.write_text(
        f'[[production]]\nname = "chrono"\nwatch_path = "{other}"\n'
        f'frameio_project_id = "{pipeline.sandbox.project_id}"\n'
    )
    postflow_env(productions_file=productions)
    path = make_file(pipeline.by_shot, NAME, 10_000)
    state = ingest_file(str(path), return_state=True)
    _assert_failed_in_one_line(state, str(path), "no production's watch folder")
    _assert_one_message(pipeline, NAME)
    assert all_files(pipeline.project()) == []


def test_an_empty_file_fails_the_run_in_one_line_and_nothing_reaches_frameio(pipeline):
    path = pipeline.by_shot / NAME
    path.write_bytes(b"")
    state = ingest_file(str(path), return_state=True)
    _assert_failed_in_one_line(state, str(path), "0 bytes", "not uploaded")
    _assert_one_message(pipeline, NAME)
    assert [asset for _, asset in pipeline.project().walk()] == []  # not even a folder


def test_run_upload_refuses_an_empty_file_before_any_frameio_call(pipeline):
    from config.settings import PostflowSettings
    from core.errors import SourceFileError
    from tasks.structure.naming import load_nomenclature
    from tasks.upload.job import UploadJob
    from tasks.upload.run import run_upload

    settings = PostflowSettings()
    rules = load_nomenclature(settings.nomenclature_path)
    path = pipeline.by_shot / NAME
    path.write_bytes(b"")
    project = pipeline.project()
    job = UploadJob(str(path), rules.parse(NAME), project.root_folder_id, rules, settings)
    with pytest.raises(SourceFileError, match="0 bytes"):
        run_upload(project, job)
    assert all_files(pipeline.project()) == []
