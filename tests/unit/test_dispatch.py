"""Dispatchers and the sensor loop without Prefect: injected ingest, emit, run look-up, clocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.dispatch import EventDispatcher, InProcessDispatcher, is_overdue
from tasks.ledger import DispatchLedger
from tasks.readiness import FileVersion
from tasks.watch_loop import run_watch_loop

WINDOW = 120.0


def _version(name: str = "SC01_UNDLM_00412_V001.mov", size: int = 1000) -> FileVersion:
    return FileVersion(f"/by_shot/{name}", size, 1_700_000_000_000_000_000)


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Events:
    """Stands in for ``emit_file_ready`` and ``run_paths_since``: records, answers by hand."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.runs: set[str] = set()
        self.reachable = True

    def emit(self, path: str, size_bytes: int, mtime_ns: int, key: str) -> object | None:
        self.sent.append(path)
        return object() if self.reachable else None

    def run_paths(self, since: datetime) -> set[str]:
        return set(self.runs)


@pytest.fixture
def ledger(tmp_path: Path) -> DispatchLedger:
    return DispatchLedger(tmp_path / "ledger.jsonl")


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def announcer(ledger, events, clock) -> EventDispatcher:
    return EventDispatcher(
        ledger,
        Path("/by_shot"),
        confirm_seconds=WINDOW,
        max_attempts=3,
        run_paths=events.run_paths,
        emit=events.emit,
        clock=clock,
        wall_clock=lambda: datetime(2026, 11, 20, tzinfo=UTC),
    )


# The re-announce rule


def test_not_overdue_within_the_window_even_when_later_files_have_runs():
    assert is_overdue(0.0, 1, WINDOW - 1, confirmed_upto=50.0, window_seconds=WINDOW) is False


def test_overdue_past_the_window_once_a_later_file_is_confirmed():
    assert is_overdue(10.0, 1, 10.0 + WINDOW, confirmed_upto=11.0, window_seconds=WINDOW) is True


def test_not_overdue_past_the_window_while_no_later_file_is_confirmed():
    assert is_overdue(10.0, 1, 10.0 + WINDOW, confirmed_upto=10.0, window_seconds=WINDOW) is False


def test_overdue_after_four_windows_regardless():
    assert is_overdue(0.0, 1, 4 * WINDOW - 1, confirmed_upto=0.0, window_seconds=WINDOW) is False
    assert is_overdue(0.0, 1, 4 * WINDOW, confirmed_upto=0.0, window_seconds=WINDOW) is True


def test_the_window_doubles_per_attempt():
    later_confirmed = {"confirmed_upto": 5.0, "window_seconds": WINDOW}
    assert is_overdue(0.0, 2, 2 * WINDOW - 1, **later_confirmed) is False
    assert is_overdue(0.0, 2, 2 * WINDOW, **later_confirmed) is True
    assert is_overdue(0.0, 3, 4 * WINDOW - 1, **later_confirmed) is False
    assert is_overdue(0.0, 3, 16 * WINDOW, confirmed_upto=0.0, window_seconds=WINDOW) is True


# EventDispatcher


def test_an_event_with_its_run_is_not_announced_again(announcer, events, clock):
    version = _version()
    assert announcer.dispatch(version) is True
    events.runs.add(version.path)
    clock.now += 10 * WINDOW
    announcer.confirm()
    assert events.sent == [version.path]
    assert announcer.awaiting == {}
    assert (announcer.reemitted, announcer.failed) == (0, 0)


def test_a_lost_event_is_announced_again_once_a_later_file_has_its_run(announcer, events, clock):
    first, later = _version("SC01_A_00001_V001.mov"), _version("SC01_B_00001_V001.mov")
    announcer.dispatch(first)
    clock.now += 1
    announcer.dispatch(later)
    events.runs.add(later.path)
    clock.now += WINDOW
    announcer.confirm()
    assert events.sent == [first.path, later.path, first.path]
    assert announcer.awaiting[first.path].attempt == 2
    assert announcer.reemitted == 1


def test_max_attempts_gives_up_and_counts_a_failure(announcer, events, clock):
    version = _version()
    announcer.dispatch(version)
    for _ in range(3):  # four windows of attempts 1, 2, 3: 4, 8, 16 windows
        clock.now += 16 * WINDOW
        announcer.confirm()
    assert events.sent == [version.path] * 3
    assert announcer.awaiting == {}
    assert (announcer.reemitted, announcer.failed, announcer.finished) == (2, 1, 1)


def test_an_unreachable_api_is_checked_again_later(announcer, events, clock):
    version = _version()
    announcer.dispatch(version)

    def down(since: datetime) -> set[str]:
        raise OSError("connection refused")

    announcer._run_paths = down
    clock.now += 10 * WINDOW
    announcer.confirm()
    assert list(announcer.awaiting) == [version.path]
    assert events.sent == [version.path]


def test_an_event_that_cannot_be_emitted_is_a_failed_dispatch(announcer, events, ledger):
    events.reachable = False
    assert announcer.dispatch(_version()) is False
    assert announcer.counts() == {"dispatched": 1, "finished": 1, "failed": 1}
    assert announcer.awaiting == {}


def test_event_dispatch_sends_each_file_version_once_across_restarts(announcer, events, tmp_path):
    version = _version()
    assert announcer.dispatch(version) is True
    assert announcer.dispatch(version) is False
    restarted = EventDispatcher(
        DispatchLedger(tmp_path / "ledger.jsonl"), Path("/by_shot"), emit=events.emit
    )
    assert restarted.already_sent(version) is True
    assert restarted.dispatch(version) is False
    assert events.sent == [version.path]


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
    restarted = DispatchLedger(tmp_path / "ledger.jsonl")
    assert restarted.interrupted() == []
    assert restarted.counts()["failed"] == 2


def test_in_process_an_interrupted_dispatch_is_sent_again_after_a_restart(ledger, tmp_path):
    version = _version()
    ledger.mark_dispatched(version.key("/by_shot"))  # the process died mid-ingest
    ingested: list[str] = []
    restarted = _in_process(
        DispatchLedger(tmp_path / "ledger.jsonl"), lambda p: ingested.append(p) or True
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
    assert len(DispatchLedger(tmp_path / "ledger.jsonl").interrupted()) == 2  # sent next start
