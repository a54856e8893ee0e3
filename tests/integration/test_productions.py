"""Two productions in one installation: each folder's files land in its own Frame.io project,
and their runs, artifacts and Discord messages name their production."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from blocks.store import local_store, tables
from config.settings import PostflowSettings
from flows.sensor import watch_by_shot
from tasks.clients import open_project
from tests.integration.helpers import all_files, make_file
from tests.integration.test_up import clean_prefect  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(tmp_path: Path):
    """The sandbox with a second project (the second production's)."""
    from postflow.sandbox.server import SandboxServer

    with SandboxServer(
        tmp_path / "sandbox", target_part_bytes=256 * 1024, second_project=True
    ) as server:
        yield server


def _productions(tmp_path: Path, sandbox) -> tuple[Path, Path]:
    undlm, chrono = tmp_path / "UNDLM" / "BY_SHOT", tmp_path / "CHRONO" / "BY_SHOT"
    undlm.mkdir(parents=True)
    chrono.mkdir(parents=True)
    (tmp_path / "productions.toml").write_text(
        f'[[production]]\nname = "undlm"\nwatch_path = "{undlm}"\n'
        f'frameio_project_id = "{sandbox.project_id}"\ndiscord_language = "fr"\n\n'
        f'[[production]]\nname = "chrono"\nwatch_path = "{chrono}"\n'
        f'frameio_project_id = "{sandbox.second_project_id}"\n'
    )
    return undlm, chrono


def _names(project_id: str) -> list[str]:
    project = open_project(PostflowSettings(frameio_project_id=project_id))
    return sorted(f.name for f in all_files(project))


def test_one_sensor_sends_each_production_to_its_own_project(
    pipeline, postflow_env, tmp_path: Path
) -> None:
    undlm, chrono = _productions(tmp_path, pipeline.sandbox)
    postflow_env(productions_file=tmp_path / "productions.toml")
    make_file(undlm, "SC01_UNDLM_00412_V001.mov", 60_000)
    (chrono / "day1").mkdir()
    make_file(chrono / "day1", "SC02_PLATE_00010_V001.mov", 60_000, seed=1)
    # the same relative path in both folders must not hide one file behind the other
    make_file(chrono, "SC01_UNDLM_00412_V001.mov", 50_000, seed=2)

    counts = watch_by_shot(stop_after_files=3, max_runtime_seconds=60)

    assert counts["finished"] == 3 and counts["failed"] == 0
    assert _names(pipeline.sandbox.project_id) == ["SC01_UNDLM_00412_V001.mov"]
    assert _names(pipeline.sandbox.second_project_id) == [
        "SC01_UNDLM_00412_V001.mov",
        "SC02_PLATE_00010_V001.mov",
    ]
    titles = [m["payload"]["embeds"][0]["title"] for m in pipeline.discord.messages]
    assert sorted(t.split(" ", 1)[0] for t in titles) == ["[chrono]", "[chrono]", "[undlm]"]
    assert any(t.startswith("[undlm] ") and t.endswith("envoyé") for t in titles)
    assert all(t.endswith("uploaded") for t in titles if t.startswith("[chrono]"))
    for name in ("undlm", "chrono"):
        store = local_store(tmp_path / "state" / "productions" / name, production=name)
        with store.read() as db:
            keys = set(
                db.execute(select(tables.ledger.c.key).where(store.where(tables.ledger))).scalars()
            )
        assert keys and all(not k.startswith("/") for k in keys)
    from postflow.cli.health import check_recovery

    recovery = check_recovery(PostflowSettings())
    assert recovery.ok and "undlm: circuit closed" in recovery.detail
    assert "chrono: circuit closed" in recovery.detail


def test_a_file_outside_every_production_folder_is_refused(
    pipeline, postflow_env, tmp_path: Path
) -> None:
    from flows.ingest import ingest_file

    _productions(tmp_path, pipeline.sandbox)
    postflow_env(productions_file=tmp_path / "productions.toml")
    stray = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 30_000)

    state = ingest_file(str(stray), return_state=True)

    assert state.is_failed() and "in no production's watch folder" in state.message
    assert _names(pipeline.sandbox.project_id) == []
    assert _names(pipeline.sandbox.second_project_id) == []


@pytest.mark.slow
@pytest.mark.usefixtures("clean_prefect")
def test_one_up_serves_two_productions(pipeline, postflow_env, tmp_path: Path):
    import os
    import time

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from tests.integration.test_up import _start_up, _stop

    undlm, chrono = _productions(tmp_path, pipeline.sandbox)
    postflow_env(productions_file=tmp_path / "productions.toml", poll_interval_seconds=0.5)
    make_file(undlm, "SC01_UNDLM_00412_V001.mov", 60_000)
    make_file(chrono, "SC02_PLATE_00010_V001.mov", 60_000, seed=1)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    up = _start_up(env, cwd=tmp_path)  # not the checkout: the flows are found as modules
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not (
            _names(pipeline.sandbox.project_id) and _names(pipeline.sandbox.second_project_id)
        ):
            time.sleep(1)
    finally:
        output = _stop(up)
    assert _names(pipeline.sandbox.project_id) == ["SC01_UNDLM_00412_V001.mov"], output[-3000:]
    assert _names(pipeline.sandbox.second_project_id) == ["SC02_PLATE_00010_V001.mov"]
    with get_client(sync_client=True) as client:
        names = {run.name for run in client.read_flow_runs() if run.name.startswith("ingest ")}
    assert names == {
        "ingest [undlm] SC01_UNDLM_00412_V001.mov",
        "ingest [chrono] SC02_PLATE_00010_V001.mov",
    }
