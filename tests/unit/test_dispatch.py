"""Dispatchers and the sensor loop without Prefect: injected ingest, run starter, clocks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from blocks.store import local_store
from tasks.sensor.dispatch import DeploymentDispatcher, InProcessDispatcher
from tasks.sensor.ledger import DispatchLedger
from tasks.sensor.readiness import FileVersion
from tasks.sensor.watch_loop import run_watch_loop

RETRY = 30.0


def _version(name: str = "SC01_UNDLM_00412_V001.mov", size: int = 1000) -> FileVersion:
    return FileVersion(f"/by_shot/{name}", size, 1_700_000_000_000_000_000)


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Runs:
    """Stands in for :class:`tasks.sensor.ingest_runs.IngestRunStarter`: records, answers by
    hand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (path, idempotency key)
        self.reachable = True
        self.warmed = 0

    def warm_up(self) -> None:
        self.warmed += 1

    def __call__(self, path: str, size_bytes: int, mtime_ns: int, key: str) -> object | None:
        self.calls.append((path, key))
        return {"id": len(self.calls)} if self.reachable else None


@pytest.fixture
def ledger(tmp_path: Path) -> DispatchLedger:
    return DispatchLedger(local_store(tmp_path))


@pytest.fixture
def runs() -> Runs:
    return Runs()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deployment(ledger, runs, clock) -> DeploymentDispatcher:
    return DeploymentDispatcher(
        ledger, Path("/by_shot"), retry_seconds=RETRY, max_attempts=3, start_run=runs, clock=clock
    )


# DeploymentDispatcher


def test_a_ready_file_gets_its_run_at_once_keyed_by_its_ledger_key(deployment, runs):
    version = _version()
    assert deployment.dispatch(version) is True
    assert runs.calls == [(version.path, version.key("/by_shot"))]
    assert deployment.counts() == {"dispatched": 1, "finished": 1, "failed": 0}
    deployment.confirm()  # nothing waits: nothing is tried again
    assert len(runs.calls) == 1 and deployment.unstarted == {}


def test_warm_up_opens_the_run_creates_client_before_any_file(deployment, runs):
    deployment.warm_up()
    assert runs.warmed == 1 and runs.calls == []


def test_a_run_that_cannot_be_created_is_tried_again_with_the_same_key(deployment, runs, clock):
    version = _version()
    runs.reachable = False
    assert deployment.dispatch(version) is False
    assert deployment.counts() == {"dispatched": 1, "finished": 0, "failed": 0}
    clock.now += RETRY - 1
    deployment.confirm()  # not due yet
    assert len(runs.calls) == 1
    runs.reachable = True
    clock.now += 1
    deployment.confirm()
    key = version.key("/by_shot")
    assert runs.calls == [(version.path, key), (version.path, key)]
    assert deployment.unstarted == {} and deployment.retried == 1
    assert deployment.counts() == {"dispatched": 1, "finished": 1, "failed": 0}


def test_retries_back_off_then_give_up_as_a_failure(deployment, runs, clock, tmp_path):
    runs.reachable = False
    version = _version()
    deployment.dispatch(version)
    clock.now += RETRY  # attempt 2 is due RETRY after attempt 1, attempt 3 2 * RETRY after 2
    deployment.confirm()
    clock.now += 2 * RETRY - 1
    deployment.confirm()
    assert len(runs.calls) == 2
    clock.now += 1
    deployment.confirm()
    assert len(runs.calls) == 3 and deployment.unstarted == {}
    assert deployment.counts() == {"dispatched": 1, "finished": 1, "failed": 1}
    assert DispatchLedger(local_store(tmp_path)).counts()["failed"] == 1


def test_a_restarted_sensor_goes_on_with_a_run_not_created_yet(deployment, runs, clock, tmp_path):
    runs.reachable = False
    version = _version()
    deployment.dispatch(version)  # the sensor stops before its run could be created
    runs.reachable = True
    restarted = DeploymentDispatcher(
        DispatchLedger(local_store(tmp_path)),
        Path("/by_shot"),
        retry_seconds=RETRY,
        max_attempts=3,
        start_run=runs,
        clock=clock,
    )
    assert restarted.already_sent(version) is True  # its create waits in the store
    assert restarted.unstarted[version.path].attempt == 1
    restarted.confirm()  # not due yet
    assert len(runs.calls) == 1
    clock.now += RETRY
    restarted.confirm()
    assert [key for _, key in runs.calls] == [version.key("/by_shot")] * 2
    again = DeploymentDispatcher(DispatchLedger(local_store(tmp_path)), Path("/by_shot"))
    assert again.unstarted == {} and again.already_sent(version) is True


def test_deployment_dispatch_sends_each_file_version_once_across_restarts(
    deployment, runs, tmp_path
):
    version = _version()
    assert deployment.dispatch(version) is True
    assert deployment.dispatch(version) is False
    restarted = DeploymentDispatcher(
        DispatchLedger(local_store(tmp_path)), Path("/by_shot"), start_run=runs
    )
    assert restarted.already_sent(version) is True
    assert restarted.dispatch(version) is False
    assert len(runs.calls) == 1


# InProcessDispatcher


def _in_process(ledger: DispatchLedger, ingest) -> InProcessDispatcher:
    return InProcessDispatcher(ledger, Path("/by_shot"), 2, ingest=ingest)


def test_in_process_ingests_each_file_version_once(ledger):
    ingested: list[str] = []
    dispatcher = _in_process(ledger, lambda path: ingested.append(path) or True)
    version = _version()
    assert dispatcher.dispatch(version) is True
    assert dispatcher.dispatch(version) is False
    dispatcher.shutdown()
    assert ingested == [version.path]
    assert dispatcher.counts() == {"dispatched": 1, "finished": 1, "failed": 0}


def test_in_process_a_new_version_of_the_same_file_is_ingested(ledger):
    ingested: list[str] = []
    dispatcher = _in_process(ledger, lambda path: ingested.append(path) or True)
    dispatcher.dispatch(_version(size=1000))
    dispatcher.dispatch(_version(size=2000))
    dispatcher.shutdown()
    assert len(ingested) == 2


def test_in_process_a_failed_or_raising_ingest_is_finished_and_not_resent(ledger, tmp_path):
    def ingest(path: str) -> bool:
        if "RAISE" in path:
            raise RuntimeError("boom")
        return False

    dispatcher = _in_process(ledger, ingest)
    dispatcher.dispatch(_version("SC01_RAISE_00001_V001.mov"))
    dispatcher.dispatch(_version("SC01_FALSE_00001_V001.mov"))
    dispatcher.shutdown()
    assert dispatcher.counts() == {"dispatched": 2, "finished": 2, "failed": 2}
    restarted = DispatchLedger(local_store(tmp_path))
    assert restarted.interrupted() == []
    assert restarted.counts()["failed"] == 2


def test_in_process_an_interrupted_dispatch_is_sent_again_after_a_restart(ledger, tmp_path):
    version = _version()
    ledger.mark_dispatched(version.key("/by_shot"))  # the process died mid-ingest
    ingested: list[str] = []
    restarted = _in_process(
        DispatchLedger(local_store(tmp_path)), lambda p: ingested.append(p) or True
    )
    assert restarted.dispatch(version) is True
    restarted.shutdown()
    assert ingested == [version.path]


# The sensor loop


class FakeWatcher:
    """A watch folder that offers ``versions`` on its first poll."""

    def __init__(self, dispatcher, versions: list[FileVersion], pending: int = 0) -> None:
        self.dispatcher, self.versions, self.pending_count = dispatcher, versions, pending
        self.polls = 0
        self.entered = self.exited = False

    def poll_once(self) -> None:
        self.polls += 1
        for version in self.versions if self.polls == 1 else []:
            self.dispatcher.dispatch(version)

    def __enter__(self) -> FakeWatcher:
        self.entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True


def test_loop_returns_after_stop_after_files_with_the_counts(ledger):
    dispatcher = _in_process(ledger, lambda path: True)
    versions = [_version(f"SC01_S_0000{i}_V001.mov") for i in range(3)]
    watcher = FakeWatcher(dispatcher, versions, pending=2)
    counts = run_watch_loop(watcher, dispatcher, poll_interval_seconds=5, stop_after_files=3)
    assert counts == {"dispatched": 3, "finished": 3, "failed": 0, "pending": 2}
    assert watcher.entered and watcher.exited


def test_loop_returns_at_its_deadline(ledger):
    clock = Clock()
    dispatcher = _in_process(ledger, lambda path: True)

    class Ticking(FakeWatcher):
        def poll_once(self) -> None:
            super().poll_once()
            clock.now += 1.0

    watcher = Ticking(dispatcher, [])
    counts = run_watch_loop(
        watcher, dispatcher, poll_interval_seconds=0.001, max_runtime_seconds=3, clock=clock
    )
    assert watcher.polls == 3
    assert counts["dispatched"] == 0


def test_loop_on_ctrl_c_drops_queued_ingests_and_reraises(ledger, tmp_path):
    started, release = threading.Event(), threading.Event()
    ingested: list[str] = []

    def slow(path: str) -> bool:
        ingested.append(path)
        started.set()
        return release.wait(5)

    dispatcher = InProcessDispatcher(ledger, Path("/by_shot"), 1, ingest=slow)

    class Interrupted(FakeWatcher):
        def poll_once(self) -> None:
            super().poll_once()
            started.wait(5)
            threading.Timer(0.2, release.set).start()  # after the queue is dropped
            raise KeyboardInterrupt

    versions = [_version(f"SC01_Q_0000{i}_V001.mov") for i in range(3)]
    with pytest.raises(KeyboardInterrupt):
        run_watch_loop(Interrupted(dispatcher, versions), dispatcher, poll_interval_seconds=5)
    assert ingested == [versions[0].path]  # the running one finished, the queued ones dropped
    assert dispatcher.counts() == {"dispatched": 3, "finished": 1, "failed": 0}
    assert len(DispatchLedger(local_store(tmp_path)).interrupted()) == 2  # sent next start
