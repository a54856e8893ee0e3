"""Deployment mode on a real Prefect server: the sensor creates each file's ingest-file run.

The run is created directly (no event trigger: Prefect 3.8.8's automation service started a
trigger's runs one at a time, seconds apart), idempotent on the ledger key, and tried again
later when the server cannot create it (no deployment yet, API unreachable).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.settings import PREFECT_API_URL, temporary_settings

from blocks.store import local_store
from flows.ingest import ingest_file
from tasks.sensor.dispatch import DeploymentDispatcher
from tasks.sensor.ingest_runs import INGEST_DEPLOYMENT, IngestRunStarter
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.readiness import FileVersion
from tests.integration.scale_out_peers import free_port

pytestmark = pytest.mark.integration


class Clock:
    """The dispatcher's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def _register() -> object:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(ingest_file)
        return client.create_deployment(flow_id=flow_id, name="ingest-file")


def _runs(deployment_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
            )
        )


@pytest.fixture
def no_deployment(prefect_harness) -> Iterator[None]:
    """Starts and ends with no ingest-file deployment and none of its runs on the server (the
    runs are never executed: nothing serves them)."""

    def clean() -> None:
        with get_client(sync_client=True) as client:
            for deployment in client.read_deployments():
                if deployment.name == "ingest-file":
                    for run in _runs(deployment.id):
                        client.delete_flow_run(run.id)
                    client.delete_deployment(deployment.id)

    clean()
    yield
    clean()


def _version(tmp_path: Path, name: str) -> FileVersion:
    path = tmp_path / name
    path.write_bytes(b"x" * 1000)
    stat = path.stat()
    return FileVersion(str(path), stat.st_size, stat.st_mtime_ns)


def _dispatcher(tmp_path: Path, clock: Clock, starter: IngestRunStarter) -> DeploymentDispatcher:
    ledger = DispatchLedger(local_store(tmp_path))
    return DeploymentDispatcher(
        ledger, tmp_path, retry_seconds=10, max_attempts=3, start_run=starter, clock=clock
    )


def test_each_ready_file_gets_one_scheduled_run_with_its_path(no_deployment, tmp_path):
    deployment_id = _register()
    recorded: list[dict] = []
    starter = IngestRunStarter(emit=lambda *args, **kwargs: recorded.append(kwargs))
    dispatcher = _dispatcher(tmp_path, Clock(), starter)
    versions = [_version(tmp_path, f"SC41_RUN_0000{n}_V001.mov") for n in range(2)]
    try:
        assert all(dispatcher.dispatch(version) for version in versions)
        # A retry whose answer was lost: the same key gives back the same run.
        again = starter(versions[0].path, 1000, versions[0].mtime_ns, dispatcher.key(versions[0]))
    finally:
        dispatcher.shutdown()
    runs = _runs(deployment_id)
    assert sorted(r.parameters["path"] for r in runs) == [v.path for v in versions]
    assert {r.state_type.value for r in runs} == {"SCHEDULED"}
    assert again.id in {r.id for r in runs}
    # The file.ready record names its run.
    assert [r["flow_run_id"] for r in recorded[:2]] == [
        str(next(r.id for r in runs if r.parameters["path"] == v.path)) for v in versions
    ]


def test_a_file_waits_for_the_deployment_and_the_error_says_what_to_run(
    no_deployment, tmp_path, caplog
):
    clock = Clock()
    dispatcher = _dispatcher(tmp_path, clock, IngestRunStarter(emit=lambda *a, **k: None))
    version = _version(tmp_path, "SC41_EARLY_00001_V001.mov")
    with caplog.at_level(logging.ERROR, logger="postflow.sensor"):
        assert dispatcher.dispatch(version) is False
    assert f"No deployment {INGEST_DEPLOYMENT}" in caplog.text
    assert "postflow up" in caplog.text
    deployment_id = _register()  # `postflow up` starts
    clock.now += 10
    dispatcher.confirm()
    dispatcher.shutdown()
    assert [r.parameters["path"] for r in _runs(deployment_id)] == [version.path]
    assert dispatcher.counts() == {"dispatched": 1, "finished": 1, "failed": 0}


def test_an_unreachable_api_is_tried_again_later_with_no_traceback(no_deployment, tmp_path, caplog):
    deployment_id = _register()
    clock = Clock()
    dispatcher = _dispatcher(tmp_path, clock, IngestRunStarter(emit=lambda *a, **k: None))
    version = _version(tmp_path, "SC41_DOWN_00001_V001.mov")
    dead = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    with temporary_settings(updates={PREFECT_API_URL: dead}), caplog.at_level(logging.WARNING):
        assert dispatcher.dispatch(version) is False
    assert "Cannot create the ingest run of" in caplog.text
    assert "Traceback" not in caplog.text
    assert list(dispatcher.unstarted) == [version.path]
    clock.now += 10  # the server answers again
    dispatcher.confirm()
    dispatcher.shutdown()
    assert [r.parameters["path"] for r in _runs(deployment_id)] == [version.path]
