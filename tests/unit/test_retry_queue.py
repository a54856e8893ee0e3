"""The retry queue: transient failures back off and come due; permanent ones are never queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from blocks.store import local_store
from core.errors import (
    FrameioAuthError,
    FrameioNetworkError,
    FrameioNotFound,
    FrameioRateLimited,
    FrameioRejected,
    FrameioServerError,
    NamingError,
)
from tasks.recovery.retry_queue import RetryQueue, classify_failure, read_retry_queue

KEY = "SC01_UNDLM_00412_V002.mov:1000:1700000000000000000"
PATH = "/watch/SC01_UNDLM_00412_V002.mov"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> RetryQueue:
    return RetryQueue(local_store(tmp_path / "state"), clock=clock)


def test_a_transient_failure_is_due_after_the_base_delay(queue: RetryQueue, clock: Clock) -> None:
    entry = queue.add(KEY, PATH, "FrameioServerError", transient=True)
    assert entry is not None and entry.attempts == 1
    assert queue.due(clock.now + 29.9) == []
    assert [e.key for e in queue.due(clock.now + 30)] == [KEY]


def test_a_permanent_failure_is_never_queued(queue: RetryQueue, clock: Clock) -> None:
    assert queue.add(KEY, PATH, "FrameioRejected", transient=False) is None
    assert queue.due(clock.now + 10**6) == []
    assert queue.pending() == [] and queue.gave_up() == []


def test_a_permanent_failure_drops_an_earlier_transient_entry(queue: RetryQueue) -> None:
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    queue.add(KEY, PATH, "FrameioAuthError", transient=False)
    assert queue.pending() == []


def test_backoff_doubles_and_is_capped_at_thirty_minutes(queue: RetryQueue, clock: Clock) -> None:
    waits = []
    for _ in range(9):
        entry = queue.add(KEY, PATH, "FrameioNetworkError", transient=True)
        assert entry is not None
        waits.append(entry.next_attempt_at - clock.now)
    assert waits == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]


def test_a_longer_retry_after_wins_over_the_backoff(queue: RetryQueue, clock: Clock) -> None:
    entry = queue.add(KEY, PATH, "FrameioRateLimited", True, retry_after_seconds=90.0)
    assert entry is not None
    assert entry.next_attempt_at == clock.now + 90.0


def test_an_entry_is_given_up_after_24_hours(queue: RetryQueue, clock: Clock) -> None:
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    clock.now += 86400
    entry = queue.add(KEY, PATH, "FrameioServerError", transient=True)
    assert entry is not None and entry.gave_up_at == clock.now
    assert queue.due(clock.now + 10**6) == []
    assert [e.key for e in queue.gave_up()] == [KEY]


def test_success_removes_the_entry(queue: RetryQueue, clock: Clock) -> None:
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    assert queue.succeeded(KEY) is True
    assert queue.due(clock.now + 10**6) == []
    assert queue.succeeded(KEY) is False


def test_a_claimed_entry_is_not_handed_out_twice(queue: RetryQueue, clock: Clock) -> None:
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    later = clock.now + 60
    assert len(queue.due(later)) == 1
    assert queue.due(later) == []
    queue.release(KEY)
    assert len(queue.due(later)) == 1


def test_the_queue_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    RetryQueue(local_store(tmp_path), clock=clock).add(KEY, PATH, "FrameioServerError", True)
    reloaded = RetryQueue(local_store(tmp_path), clock=clock)
    assert [(e.key, e.attempts) for e in reloaded.due(clock.now + 30)] == [(KEY, 1)]


def test_a_claimed_entry_is_due_again_after_a_restart(tmp_path: Path, clock: Clock) -> None:
    first = RetryQueue(local_store(tmp_path), clock=clock)
    first.add(KEY, PATH, "FrameioServerError", transient=True)
    first.due(clock.now + 30)  # claimed, then the process dies
    assert len(RetryQueue(local_store(tmp_path), clock=clock).due(clock.now + 30)) == 1


def test_a_non_utf8_key_round_trips_through_the_store(tmp_path: Path, clock: Clock) -> None:
    name = os.fsdecode(b"\xc9T\xc9_S09_V001.mov")
    key, path = f"{name}:10:1", f"/watch/{name}"
    RetryQueue(local_store(tmp_path), clock=clock).add(key, path, "FrameioServerError", True)
    entries = RetryQueue(local_store(tmp_path), clock=clock).due(clock.now + 30)
    assert [(e.key, e.path) for e in entries] == [(key, path)]


_WRITER = """
import sys
from pathlib import Path
from blocks.store import local_store
from blocks.store import local_store
from tasks.recovery.retry_queue import RetryQueue
queue = RetryQueue(local_store(Path(sys.argv[1])))
i = 0
while True:
    queue.add(f"f{i % 50}.mov:1:1", "/w/f.mov", "FrameioServerError", transient=True)
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_kill_9_mid_write_loses_no_committed_entry(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    pending = RetryQueue(local_store(tmp_path)).pending()
    assert len(pending) >= 20
    assert all(e.error_kind == "FrameioServerError" for e in pending)


def test_two_queues_on_one_store_count_each_others_failures(tmp_path: Path, clock: Clock) -> None:
    sensor = RetryQueue(local_store(tmp_path), clock=clock)  # the sensor's process
    worker = RetryQueue(local_store(tmp_path), clock=clock)  # an ingest run's
    worker.add(KEY, PATH, "FrameioServerError", transient=True)
    worker.add(KEY, PATH, "FrameioServerError", transient=True)
    assert [e.attempts for e in sensor.due(clock.now + 3600)] == [2]
    worker.succeeded(KEY)
    assert sensor.pending() == []


def test_status_summary_counts_queued_due_and_given_up(tmp_path: Path, clock: Clock) -> None:
    queue = RetryQueue.in_state_dir(tmp_path, clock=clock, give_up_after_seconds=100)
    queue.add("a:1:1", "/w/a", "FrameioServerError", transient=True)
    queue.add("b:1:1", "/w/b", "FrameioServerError", transient=True)
    clock.now += 100
    queue.add("b:1:1", "/w/b", "FrameioServerError", transient=True)
    summary = read_retry_queue(local_store(tmp_path), now=clock.now)
    assert summary["queued"] == 1 and summary["due"] == 1
    assert summary["gave_up"] == 1 and summary["gave_up_paths"] == ["/w/b"]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (FrameioServerError("files.create", "boom", status_code=503), True),
        (FrameioRateLimited("files.create", "slow down", retry_after_seconds=5), True),
        (FrameioNetworkError("files.create", "reset"), True),
        (httpx.ConnectError("refused"), True),
        (ConnectionResetError(), True),
        (NamingError("x.mov", "no rule"), False),
        (FrameioAuthError("files.create", "no", status_code=403), False),
        (FrameioNotFound("files.show", "gone", status_code=404), False),
        (FrameioRejected("files.create", "bad", status_code=422), False),
        (ValueError("a bug"), False),
    ],
)
def test_classify_failure_retries_only_transient_errors(
    error: BaseException, transient: bool
) -> None:
    assert classify_failure(error) == (type(error).__name__, transient)


def test_a_deferred_version_counts_no_attempt(queue: RetryQueue, clock: Clock) -> None:
    queue.defer(KEY, PATH, until=clock.now + 60)
    assert queue.due(clock.now + 59) == []
    (entry,) = queue.due(clock.now + 60)
    assert entry.attempts == 0 and entry.error_kind == "circuit open"
    failed = queue.add(KEY, PATH, "FrameioServerError", transient=True)
    assert failed is not None and failed.attempts == 1


def test_deferring_a_queued_entry_keeps_its_attempts(queue: RetryQueue, clock: Clock) -> None:
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    queue.add(KEY, PATH, "FrameioServerError", transient=True)
    entry = queue.defer(KEY, PATH, until=clock.now + 10)
    assert entry.attempts == 2
    assert entry.next_attempt_at == clock.now + 60
