"""The Frame.io circuit breaker: closed -> open -> half-open probe -> closed or open again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import tasks.recovery.circuit as circuit
from blocks.store import local_store
from tasks.recovery.circuit import (
    CircuitBreaker,
    CircuitState,
    emit_circuit_event,
    read_circuit_state,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def breaker(tmp_path: Path, clock: Clock, events: list) -> CircuitBreaker:
    return CircuitBreaker.in_state_dir(
        tmp_path, clock=clock, on_transition=lambda s, p: events.append((s, p))
    )


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.record_failure(transient=True, error_kind="FrameioServerError")


def test_four_transient_failures_keep_it_closed(breaker: CircuitBreaker, events: list) -> None:
    _fail(breaker, 4)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow() is True
    assert events == []


def test_five_consecutive_transient_failures_open_it(breaker: CircuitBreaker, events: list) -> None:
    _fail(breaker, 5)
    assert breaker.state is CircuitState.OPEN
    assert breaker.allow() is False
    assert [state for state, _ in events] == ["open"]
    assert events[0][1]["last_error"] == "FrameioServerError"


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 4)
    breaker.record_success()
    _fail(breaker, 4)
    assert breaker.state is CircuitState.CLOSED


def test_permanent_failures_do_not_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 4)
    breaker.record_failure(transient=False, error_kind="FrameioRejected")
    _fail(breaker, 4)
    assert breaker.state is CircuitState.CLOSED


def test_after_the_cool_down_exactly_one_probe_is_allowed(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _fail(breaker, 5)
    clock.now += 59.9
    assert breaker.allow() is False
    clock.now += 0.1
    assert [breaker.allow() for _ in range(3)] == [True, False, False]
    assert breaker.state is CircuitState.HALF_OPEN


def test_a_successful_probe_closes_it(breaker: CircuitBreaker, clock: Clock, events: list) -> None:
    _fail(breaker, 5)
    clock.now += 60
    breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow() is True
    assert [state for state, _ in events] == ["open", "half_open", "closed"]


def test_a_failed_probe_reopens_it_with_a_doubled_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _fail(breaker, 5)
    clock.now += 60
    breaker.allow()
    _fail(breaker, 1)
    assert breaker.state is CircuitState.OPEN
    clock.now += 119
    assert breaker.allow() is False
    clock.now += 1
    assert breaker.allow() is True


def test_the_cool_down_is_capped(tmp_path: Path, clock: Clock) -> None:
    breaker = CircuitBreaker(
        local_store(tmp_path), cool_down_seconds=60, max_cool_down_seconds=200, clock=clock
    )
    _fail(breaker, 5)
    for _ in range(4):
        clock.now += 1000
        assert breaker.allow() is True
        _fail(breaker, 1)
    assert breaker.snapshot()["cool_down_seconds"] == 200


def test_a_lost_probe_is_replaced_after_the_probe_timeout(tmp_path: Path, clock: Clock) -> None:
    breaker = CircuitBreaker(local_store(tmp_path), probe_timeout_seconds=300, clock=clock)
    _fail(breaker, 5)
    clock.now += 60
    assert breaker.allow() is True
    clock.now += 299
    assert breaker.allow() is False
    clock.now += 1
    assert breaker.allow() is True


def test_another_process_reads_the_state(breaker: CircuitBreaker, tmp_path: Path) -> None:
    assert read_circuit_state(local_store(tmp_path))["state"] == "closed"
    _fail(breaker, 5)
    state = read_circuit_state(local_store(tmp_path))
    assert state["state"] == "open" and state["consecutive_failures"] == 5
    assert state["probe_at"] == state["opened_at"] + 60


def test_a_restarted_process_resumes_an_open_breaker(
    breaker: CircuitBreaker, tmp_path: Path, clock: Clock
) -> None:
    _fail(breaker, 5)
    clock.now += 30
    resumed = CircuitBreaker.in_state_dir(tmp_path, clock=clock)
    assert resumed.allow() is False
    clock.now += 30
    assert resumed.allow() is True


def test_concurrent_failures_open_it_once(breaker: CircuitBreaker, events: list) -> None:
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        _fail(breaker, 10)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state is CircuitState.OPEN
    assert [state for state, _ in events] == ["open"]


def test_a_failing_callback_does_not_break_the_breaker(tmp_path: Path, clock: Clock) -> None:
    def broken(state: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("event system down")

    breaker = CircuitBreaker(local_store(tmp_path), clock=clock, on_transition=broken)
    _fail(breaker, 5)
    assert breaker.state is CircuitState.OPEN


def test_emit_circuit_event_names_opened_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, dict, dict]] = []

    def fake_emit(name: str, resource: dict, payload: dict) -> str:
        sent.append((name, resource, payload))
        return name

    monkeypatch.setattr(circuit, "emit_event", fake_emit)
    assert emit_circuit_event("open", {"state": "open"}) == "postflow.frameio.circuit.opened"
    assert emit_circuit_event("closed", {"state": "closed"}) == "postflow.frameio.circuit.closed"
    assert emit_circuit_event("half_open", {}) is None
    assert sent[0][1]["prefect.resource.id"] == "postflow.frameio.circuit"


def test_emit_circuit_event_swallows_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no API")

    monkeypatch.setattr(circuit, "emit_event", failing)
    assert emit_circuit_event("open", {"state": "open"}) is None


def test_outcomes_recorded_by_other_processes_reach_the_owner(
    breaker: CircuitBreaker, tmp_path: Path, clock: Clock, events: list
) -> None:
    # Under `postflow up` each ingest run builds its own recorder on the same file.
    assert breaker.allow() is True
    for _ in range(5):
        recorder = CircuitBreaker.in_state_dir(tmp_path, clock=clock, owner=False)
        recorder.record_failure(transient=True, error_kind="FrameioServerError")
    assert breaker.allow() is False
    clock.now += 60
    assert breaker.allow() is True  # the probe
    recorder = CircuitBreaker.in_state_dir(tmp_path, clock=clock, owner=False)
    assert recorder.state is CircuitState.HALF_OPEN  # a recorder leaves the probe alone
    recorder.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_a_failed_probe_recorded_elsewhere_doubles_the_cool_down(
    breaker: CircuitBreaker, tmp_path: Path, clock: Clock
) -> None:
    _fail(breaker, 5)
    clock.now += 60
    assert breaker.allow() is True
    recorder = CircuitBreaker.in_state_dir(tmp_path, clock=clock, owner=False)
    recorder.record_failure(transient=True, error_kind="FrameioServerError")
    assert breaker.state is CircuitState.OPEN
    assert read_circuit_state(local_store(tmp_path))["cool_down_seconds"] == 120


def test_an_unreadable_row_is_reset_with_one_warning_and_the_breaker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import sqlite3

    first = CircuitBreaker.in_state_dir(tmp_path)
    first.record_failure(transient=True, error_kind="FrameioServerError")
    with sqlite3.connect(tmp_path / "state.db") as db:  # SQLite keeps text in a number column
        db.execute("UPDATE circuit SET opened_at = 'abc', consecutive_failures = 'zz'")
    with caplog.at_level(logging.WARNING, logger="postflow.circuit"):
        again = CircuitBreaker.in_state_dir(tmp_path)
        assert again.allow() is True
        again.record_failure(transient=True, error_kind="FrameioServerError")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "circuit row" in warnings[0] and "postflow/-" in warnings[0]
    assert read_circuit_state(local_store(tmp_path))["consecutive_failures"] == 1
