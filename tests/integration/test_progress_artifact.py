"""UploadProgressArtifact against a real Prefect server: inside a real task run of a real flow
run, deltas fed from a thread without run context (as part PUTs are) reach the run's progress
artifact, throttled by an injected clock; outside a run and on API errors nothing fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import Artifact
from prefect.runtime import flow_run

import tasks.upload.progress_artifact as module
from tasks.upload.progress_artifact import UploadProgressArtifact, artifact_key

pytestmark = pytest.mark.integration

NAME = "A001_C003 V002.MOV"
TOTAL = 1000


@task(name="postflow-test-progress-upload")
def fake_upload(deltas: list[int], seconds_apart: float) -> None:
    """What upload_file will do: build the artifact in the task's thread, feed it from a
    worker thread (no Prefect context there), finish it in the task's thread."""
    now = [0.0]
    artifact = UploadProgressArtifact(NAME, TOTAL, min_interval_seconds=2.0, clock=lambda: now[0])

    def part_puts() -> None:
        for step, delta in enumerate(deltas):
            now[0] = step * seconds_apart
            artifact(delta)

    worker = threading.Thread(target=part_puts)
    worker.start()
    worker.join()
    artifact.finish()


@flow(name="postflow-test-progress-artifact")
def upload_flow(deltas: list[int], seconds_apart: float) -> str:
    fake_upload(deltas, seconds_apart)
    return str(flow_run.get_id())


def _artifacts(flow_run_id: str) -> list[Artifact]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(NAME)])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
        )


@pytest.fixture
def update_calls(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Percents passed to the real update_progress_artifact."""
    real = module.update_progress_artifact
    calls: list[float] = []

    def spy(artifact_id: UUID, progress: float, **kwargs: object) -> UUID:
        calls.append(progress)
        return real(artifact_id, progress, **kwargs)  # type: ignore[arg-type, return-value]

    monkeypatch.setattr(module, "update_progress_artifact", spy)
    return calls


@pytest.fixture
def run_warnings() -> Iterator[list[logging.LogRecord]]:
    """Warnings logged through the task run's logger."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_the_task_runs_artifact_reaches_100_with_throttled_updates(
    prefect_harness: None, update_calls: list[float]
) -> None:
    flow_run_id = upload_flow([100] * 10, seconds_apart=0.5)  # 10 % every 0.5 s

    [artifact] = _artifacts(flow_run_id)
    assert artifact.type == "progress" and artifact.data == 100.0
    assert artifact.task_run_id is not None
    assert NAME in (artifact.description or "") and "1,000 bytes" in (artifact.description or "")
    assert update_calls == [50.0, 90.0, 100.0]  # created at 10 %; then t=2 s, t=4 s, 100 %


def test_without_a_run_there_is_no_artifact_and_no_error(prefect_harness: None) -> None:
    artifact = UploadProgressArtifact("no run.mov", TOTAL)

    artifact(TOTAL)
    artifact.finish()

    assert not artifact.enabled
    with get_client(sync_client=True) as client:
        key = ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key("no run.mov")]))
        assert client.read_artifacts(artifact_filter=key) == []


def test_an_api_failure_is_one_warning_and_the_task_still_succeeds(
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    run_warnings: list[logging.LogRecord],
) -> None:
    def refused(*args: object, **kwargs: object) -> UUID:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(module, "update_progress_artifact", refused)

    flow_run_id = upload_flow([100] * 10, seconds_apart=1.0)

    [artifact] = _artifacts(flow_run_id)
    assert artifact.data == 10.0  # created, then never updated
    assert len(run_warnings) == 1
    assert "ConnectionRefusedError" in run_warnings[0].getMessage()
