"""WatchFolder with real watchdog on a temp dir (no Prefect): events, scan, flat memory."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
import tracemalloc

import pytest

from core.errors import ConfigurationError
from core.since import parse_since
from tasks.sensor.watch_folder import WatchFolder


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _watcher(root, ready, clock, **kw):
    return WatchFolder(
        root,
        ready.append,
        settle_seconds=5.0,
        tail_check_bytes=64,
        poll_interval_seconds=0.1,
        clock=clock,
        **kw,
    )


def test_startup_scan_finds_existing_files_and_skips_junk(tmp_path):
    (tmp_path / "SC01_A_00001_V001.mov").write_bytes(b"x" * 10)
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "render.mov.part").write_bytes(b"x")
    ready: list = []
    clock = Clock()
    with _watcher(tmp_path, ready, clock) as watcher:
        assert watcher.pending_count == 1
        watcher.poll_once()
        clock.now += 6
        watcher.poll_once()
        watcher.poll_once()
    assert [os.path.basename(v.path) for v in ready] == ["SC01_A_00001_V001.mov"]


def test_since_cutoff_leaves_older_files_alone(tmp_path):
    old = tmp_path / "SC01_A_00001_V001.mov"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 86400 * 3, time.time() - 86400 * 3))
    (tmp_path / "SC01_A_00001_V002.mov").write_bytes(b"y")
    with _watcher(tmp_path, [], Clock(), since_epoch=parse_since("1d")) as watcher:
        assert watcher.pending_count == 1


def test_polling_observer_notices_a_new_file(tmp_path):
    seen = threading.Event()
    watcher = _watcher(tmp_path, [], Clock())
    original = watcher._add
    watcher._add = lambda path: (original(path), seen.set())  # type: ignore[method-assign]
    with watcher:
        (tmp_path / "SC01_A_00001_V003.mov").write_bytes(b"z" * 100)
        assert seen.wait(10)
    assert watcher.pending_count == 1


def test_missing_watch_folder_is_a_clear_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="POSTFLOW_WATCH_PATH"):
        _watcher(tmp_path / "nope", [], Clock()).start()


@pytest.mark.parametrize("text", ["12h", "7d", "2026-11-20", "2026-11-20T08:00", "1763600000"])
def test_since_accepts_durations_dates_and_epochs(text):
    assert isinstance(parse_since(text, now=1_800_000_000.0), float)


def test_since_rejects_nonsense():
    with pytest.raises(ConfigurationError, match="--since"):
        parse_since("last tuesday")


def test_polling_many_times_keeps_memory_flat(tmp_path):
    for i in range(40):
        (tmp_path / f"SC09_PLACEHOLDER_{i:05d}_V001.mov").touch()  # 0-byte: never ready
    clock = Clock()
    with _watcher(tmp_path, [], clock) as watcher:
        for _ in range(50):
            watcher.poll_once()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(1000):
            clock.now += 1
            watcher.poll_once()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert watcher.pending_count == 40
    assert growth < 256 * 1024, f"sensor memory grew by {growth} bytes over 1000 polls"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_writer_pausing_past_the_settle_window_is_not_dispatched_half_written(tmp_path, caplog):
    render = tmp_path / "render.mov"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=25"]
        + ["-c:v", "mpeg4", str(render)],
        check=True,
        timeout=60,
    )
    data = render.read_bytes()
    watch = tmp_path / "BY_SHOT"
    watch.mkdir()
    target = watch / "SC01_A_00001_V001.mov"
    target.write_bytes(data[: len(data) // 2])  # the writer pauses here, moov not written
    ready: list = []
    clock = Clock()
    caplog.set_level(logging.INFO, logger="postflow.sensor")
    with _watcher(watch, ready, clock) as watcher:
        for _ in range(4):
            watcher.poll_once()
            clock.now += 6
        assert ready == []
        with target.open("ab") as handle:  # the writer resumes and finishes
            handle.write(data[len(data) // 2 :])
        for _ in range(4):
            watcher.poll_once()
            clock.now += 6
    assert [v.size_bytes for v in ready] == [len(data)]
    waits = [r for r in caplog.records if r.getMessage().startswith("Not ready yet")]
    assert len(waits) == 1 and "SC01_A_00001_V001.mov" in waits[0].getMessage()
