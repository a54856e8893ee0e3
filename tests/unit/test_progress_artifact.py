"""UploadProgressArtifact's bookkeeping without a Prefect server: the key, the threshold, when
it writes (injected clock), the value it shows, and that API errors never reach the caller.
The real create/update calls against a Prefect server: tests/integration/test_progress_artifact.py.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID, uuid4

import pytest

import tasks.upload.progress_artifact as module
from tasks.upload.progress_artifact import (
    UploadProgressArtifact,
    artifact_key,
    progress_artifact_for,
)


class FakeApi:
    """Stands in for create/update_progress_artifact; records ``(call, percent)``."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, float]] = []
        self.id = uuid4()
        self.fail = fail
        self.lock = threading.Lock()

    def create(self, progress: float, key: str, description: str, _sync: bool) -> UUID:
        assert _sync is True
        return self._record("create", progress)

    def update(self, artifact_id: UUID, progress: float, _sync: bool) -> UUID:
        assert artifact_id == self.id
        return self._record("update", progress)

    def _record(self, call: str, progress: float) -> UUID:
        with self.lock:
            self.calls.append((call, progress))
        if call == self.fail:
            raise ConnectionError("Prefect API unreachable")
        return self.id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(module, "_in_run", lambda: True)
    monkeypatch.setattr(module, "create_progress_artifact", fake.create)
    monkeypatch.setattr(module, "update_progress_artifact", fake.update)
    return fake


def test_key_is_lowercase_letters_digits_and_dashes() -> None:
    assert artifact_key("A001_C003 V002.MOV") == "upload-a001-c003-v002-mov"
    assert artifact_key("été__--.mov") == "upload-t-mov"
    assert artifact_key("!!!") == "upload-file"
    assert len(artifact_key("x" * 500)) == 120


def test_a_file_below_the_threshold_gets_none() -> None:
    assert progress_artifact_for("a.mov", 99, threshold_bytes=100) is None


def test_outside_a_run_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeApi()
    monkeypatch.setattr(module, "create_progress_artifact", fake.create)
    artifact = progress_artifact_for("a.mov", 100, threshold_bytes=100)

    assert artifact is not None and not artifact.enabled
    artifact(100)
    artifact.finish()
    assert fake.calls == []


def test_first_delta_creates_then_updates_are_throttled_and_100_always_goes(
    api: FakeApi,
) -> None:
    clock = Clock()
    artifact = UploadProgressArtifact("a.mov", 1000, min_interval_seconds=2.0, clock=clock)

    for step in range(10):  # 10 % every 0.5 s
        clock.now = step * 0.5
        artifact(100)
    artifact.finish()

    assert api.calls == [("create", 10.0), ("update", 50.0), ("update", 90.0), ("update", 100.0)]


def test_a_restarted_part_shows_the_true_value_clamped_to_0_100(api: FakeApi) -> None:
    clock = Clock()
    artifact = UploadProgressArtifact("a.mov", 1000, min_interval_seconds=1.0, clock=clock)

    artifact(600)
    clock.now = 1.0
    artifact(-700)  # more than counted: shown as 0, not negative
    clock.now = 2.0
    artifact(1100)  # more than the file: 100

    assert api.calls == [("create", 60.0), ("update", 0.0), ("update", 100.0)]
    assert artifact.percent == 100.0


def test_finish_writes_the_last_value_once_then_ignores_deltas(api: FakeApi) -> None:
    artifact = UploadProgressArtifact("a.mov", 1000, clock=Clock())

    artifact(100)
    artifact(200)  # within the interval: not written
    artifact.finish()
    artifact(700)
    artifact.finish()

    assert api.calls == [("create", 10.0), ("update", 30.0)]


def test_an_upload_that_sends_nothing_creates_no_artifact(api: FakeApi) -> None:
    UploadProgressArtifact("a.mov", 1000).finish()

    assert api.calls == []


def test_an_api_error_is_one_warning_and_the_artifact_stops(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail = "update"
    clock = Clock()
    artifact = UploadProgressArtifact("a.mov", 1000, min_interval_seconds=1.0, clock=clock)

    with caplog.at_level(logging.WARNING, logger="postflow.upload"):
        for step in range(10):
            clock.now = float(step)
            artifact(100)
        artifact.finish()

    assert api.calls == [("create", 10.0), ("update", 20.0)]
    assert not artifact.enabled
    warnings = [r for r in caplog.records if r.name == "postflow.upload"]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0].getMessage()


def test_many_threads_count_every_byte_and_end_at_100(api: FakeApi) -> None:
    artifact = UploadProgressArtifact("a.mov", 8 * 1000, min_interval_seconds=0.0)

    def send(part: int) -> None:
        for _ in range(100):
            artifact(10)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(8)))
    artifact.finish()

    assert artifact.percent == 100.0
    assert api.calls[-1] == ("update", 100.0)
    assert [call for call, _ in api.calls].count("create") == 1
