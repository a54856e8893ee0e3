"""Events mode: a postflow.file.ready that produced no ingest run is emitted again.

Prefect 3.8.8 does not retry a failed trigger action (seen in the scale-out test: a 503 from
a busy SQLite server, and one file never got a run). The run look-up is the real Prefect API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from flows.ingest import ingest_file
from tasks.dispatch import EventDispatcher
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion
from tests.integration.remote_helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def dispatcher(prefect_harness, tmp_path: Path):
    sent: list[str] = []

    def emit(path: str, size_bytes: int, mtime_ns: int, key: str) -> object:
        sent.append(path)
        return object()  # an Event; the trigger is what this test plays as broken

    ledger = DispatchLedger(tmp_path / "ledger.jsonl")
    events = EventDispatcher(ledger, tmp_path, 1, confirm_seconds=0.4, max_attempts=3, emit=emit)
    events.sent = sent
    yield events
    events.shutdown()


def _version(tmp_path: Path, name: str) -> FileVersion:
    path = tmp_path / name
    path.write_bytes(b"x" * 1000)
    stat = path.stat()
    return FileVersion(str(path), stat.st_size, stat.st_mtime_ns)


def test_an_event_without_a_run_is_emitted_again_then_given_up(dispatcher, tmp_path):
    version = _version(tmp_path, "SC41_LOST_00001_V001.mov")
    assert dispatcher.dispatch(version)
    assert wait_until(lambda: (dispatcher.confirm(), not dispatcher.awaiting)[1], 30, 0.05)
    assert dispatcher.sent == [version.path] * 3
    assert (dispatcher.reemitted, dispatcher.failed) == (2, 1)


def test_an_event_whose_run_exists_is_not_emitted_again(dispatcher, tmp_path):
    version = _version(tmp_path, "SC41_FOUND_00001_V001.mov")
    with get_client(sync_client=True) as client:  # what the trigger's action creates
        client.create_flow_run(ingest_file, parameters={"path": version.path}, state=Scheduled())
    assert dispatcher.dispatch(version)
    assert wait_until(lambda: (dispatcher.confirm(), not dispatcher.awaiting)[1], 30, 0.05)
    assert dispatcher.sent == [version.path]
    assert (dispatcher.reemitted, dispatcher.failed) == (0, 0)


class Clock:
    """The dispatcher's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def _run_for(path: str) -> None:
    with get_client(sync_client=True) as client:  # what the trigger's action creates
        client.create_flow_run(ingest_file, parameters={"path": path}, state=Scheduled())


def test_a_late_run_on_a_busy_server_is_waited_for_not_announced_again(
    dispatcher, tmp_path, monkeypatch
):
    clock = Clock()
    monkeypatch.setattr(dispatcher, "clock", clock)
    first, later = _version(tmp_path, "SC41_A_00001_V001.mov"), _version(tmp_path, "SC41_B.mov")
    assert dispatcher.dispatch(first)
    clock.now += 0.01
    assert dispatcher.dispatch(later)
    clock.now += 0.5  # past the 0.4 s window, under the 1.6 s cap; nothing has a run yet
    dispatcher.confirm()
    assert dispatcher.sent == [first.path, later.path]
    _run_for(later.path)  # the server got to the later file: the first one was skipped
    clock.now += 0.2
    dispatcher.confirm()
    assert dispatcher.sent == [first.path, later.path, first.path]
    assert dispatcher.reemitted == 1 and list(dispatcher.awaiting) == [first.path]
