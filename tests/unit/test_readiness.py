"""Readiness decisions: empty, growing, settling, tail verification."""

from __future__ import annotations

import pytest

from tasks.sensor.readiness import FileVersion, Observation, ReadinessTracker, Verdict, assess


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tail(value: str):
    return lambda: value


def test_new_file_is_changing():
    obs, verdict = assess(None, 10, 1, 0.0, 5.0, _tail("a"))
    assert verdict is Verdict.CHANGING
    assert obs.stable_since == 0.0
    assert obs.tail_digest is None


def test_zero_byte_placeholder_stays_empty_however_long():
    obs, verdict = assess(None, 0, 1, 0.0, 5.0, _tail("a"))
    obs, verdict = assess(obs, 0, 1, 500.0, 5.0, _tail("a"))
    assert verdict is Verdict.EMPTY


def test_unchanged_within_settle_window_is_settling():
    obs = Observation(10, 1, stable_since=0.0)
    _, verdict = assess(obs, 10, 1, 4.9, 5.0, _tail("a"))
    assert verdict is Verdict.SETTLING


def test_growth_resets_the_settle_window():
    obs = Observation(10, 1, stable_since=0.0, tail_digest="a")
    new, verdict = assess(obs, 20, 2, 100.0, 5.0, _tail("a"))
    assert verdict is Verdict.CHANGING
    assert new.stable_since == 100.0
    assert new.tail_digest is None


def test_settled_file_needs_two_equal_tail_reads():
    obs = Observation(10, 1, stable_since=0.0)
    obs, first = assess(obs, 10, 1, 6.0, 5.0, _tail("a"))
    _, second = assess(obs, 10, 1, 7.0, 5.0, _tail("a"))
    assert first is Verdict.VERIFYING
    assert second is Verdict.READY


def test_tail_that_changes_without_size_change_is_not_ready():
    obs = Observation(10, 1, stable_since=0.0)
    obs, _ = assess(obs, 10, 1, 6.0, 5.0, _tail("a"))
    obs, verdict = assess(obs, 10, 1, 7.0, 5.0, _tail("b"))
    assert verdict is Verdict.VERIFYING
    assert obs.tail_digest == "b"


def test_tracker_reports_a_real_file_ready_once(tmp_path):
    clock = Clock()
    path = tmp_path / "SC01_A_1_V001.mov"
    path.write_bytes(b"x" * 100)
    tracker = ReadinessTracker(settle_seconds=5.0, tail_check_bytes=16, clock=clock)
    verdicts = [tracker.check(str(path))[0]]
    clock.now += 6
    verdicts.append(tracker.check(str(path))[0])
    clock.now += 1
    verdict, version = tracker.check(str(path))
    assert verdicts == [Verdict.CHANGING, Verdict.VERIFYING]
    assert verdict is Verdict.READY
    assert version == FileVersion(str(path), 100, path.stat().st_mtime_ns)
    assert len(tracker) == 0


def test_tracker_keeps_a_growing_file_waiting(tmp_path):
    clock = Clock()
    path = tmp_path / "grow.mov"
    path.write_bytes(b"x" * 10)
    tracker = ReadinessTracker(settle_seconds=5.0, tail_check_bytes=16, clock=clock)
    seen = []
    for _ in range(5):
        seen.append(tracker.check(str(path))[0])
        with path.open("ab") as handle:
            handle.write(b"y" * 10)
        clock.now += 10
    assert set(seen) == {Verdict.CHANGING}
    assert len(tracker) == 1


def test_tracker_forgets_a_deleted_file(tmp_path):
    tracker = ReadinessTracker(5.0, 16, Clock())
    path = tmp_path / "gone.mov"
    path.write_bytes(b"x")
    tracker.check(str(path))
    path.unlink()
    with pytest.raises(FileNotFoundError):
        tracker.check(str(path))
    assert len(tracker) == 0


def test_file_version_key_is_relative_and_deterministic():
    version = FileVersion("/w/BY_SHOT/sub/a.mov", 12, 34)
    assert version.key("/w/BY_SHOT") == "sub/a.mov:12:34"
    assert version.key("/w/BY_SHOT") == FileVersion("/w/BY_SHOT/sub/a.mov", 12, 34).key(
        "/w/BY_SHOT"
    )


def _settled_tracker(tmp_path, answers):
    """A tracker whose completeness check answers from ``answers`` in turn, and its file."""
    clock = Clock()
    path = tmp_path / "SC01_A_1_V001.mov"
    path.write_bytes(b"x" * 100)
    calls: list[str] = []

    def completeness(p: str) -> str | None:
        calls.append(p)
        return answers[min(len(calls), len(answers)) - 1]

    tracker = ReadinessTracker(5.0, 16, clock, completeness)
    tracker.check(str(path))
    clock.now += 6
    tracker.check(str(path))  # settled: first tail read
    return tracker, str(path), calls


def test_an_unfinished_container_is_incomplete_not_ready(tmp_path):
    tracker, path, _ = _settled_tracker(tmp_path, ["no 'moov' atom"])
    verdict, version = tracker.check(path)
    assert verdict is Verdict.INCOMPLETE and version is None
    assert tracker.incomplete_reason(path) == "no 'moov' atom"
    assert len(tracker) == 1


def test_an_incomplete_file_is_asked_again_and_becomes_ready(tmp_path):
    tracker, path, calls = _settled_tracker(tmp_path, ["no 'moov' atom", None])
    first, _ = tracker.check(path)
    second, version = tracker.check(path)
    assert (first, second) == (Verdict.INCOMPLETE, Verdict.READY)
    assert version is not None and len(calls) == 2
    assert tracker.incomplete_reason(path) is None


def test_completeness_is_not_asked_before_the_file_settles(tmp_path):
    clock = Clock()
    path = tmp_path / "SC01_A_1_V001.mov"
    path.write_bytes(b"x" * 100)
    calls: list[str] = []
    tracker = ReadinessTracker(5.0, 16, clock, lambda p: calls.append(p) or None)
    verdicts = [tracker.check(str(path))[0] for _ in range(3)]
    assert verdicts == [Verdict.CHANGING, Verdict.SETTLING, Verdict.SETTLING]
    assert calls == []
