"""The watch-by-shot sensor with real watchdog on a temp dir, the sandbox and Prefect."""

from __future__ import annotations

import threading

import pytest

from flows.sensor import watch_by_shot
from tests.integration.helpers import all_files, make_file

pytestmark = pytest.mark.integration


def test_a_slowly_growing_file_is_uploaded_only_when_complete(pipeline, postflow_env):
    postflow_env(settle_seconds=1.0)
    path = pipeline.by_shot / "SC01_UNDLM_00412_V002.mov"
    started = threading.Event()
    chunks = 8
    final = make_file(pipeline.by_shot.parent, "reference.bin", chunks * 100_000).read_bytes()
    growth_done = threading.Event()

    def grow() -> None:
        with path.open("wb") as handle:
            for i in range(chunks):
                handle.write(final[i * 100_000 : (i + 1) * 100_000])
                handle.flush()
                started.set()
                growth_done.wait(0.3)  # slower than polling, faster than the settle time
        growth_done.set()

    writer = threading.Thread(target=grow)
    writer.start()
    started.wait(5)
    counts = watch_by_shot(stop_after_files=1, max_runtime_seconds=60)
    writer.join()
    [uploaded] = all_files(pipeline.project())
    assert counts["finished"] == 1
    assert uploaded.file_size == len(final)
    # What Frame.io holds is the finished render, not a prefix read while it grew.
    assert pipeline.sandbox.stored_bytes(uploaded.id) == final


def test_junk_is_ignored_bad_name_reported_once_and_restart_does_not_resend(pipeline):
    for i, name in enumerate(["SC01_UNDLM_00412_V001.mov", "SC02_PLATE_00010_V003.mxf"]):
        make_file(pipeline.by_shot, name, 150_000, seed=i)
    make_file(pipeline.by_shot, "RANDOM_RENDER_FINAL.mov", 5_000)
    for junk in (".DS_Store", "._SC01_UNDLM_00412_V001.mov", "Thumbs.db", "x.mov.part"):
        (pipeline.by_shot / junk).write_bytes(b"junk")
    (pipeline.by_shot / "SC03_EMPTY_00001_V001.mov").touch()  # 0-byte placeholder

    first = watch_by_shot(stop_after_files=3, max_runtime_seconds=60)
    messages = pipeline.discord.wait_for(3, timeout_seconds=10)
    second = watch_by_shot(max_runtime_seconds=2.5)

    titles = sorted(m["payload"]["embeds"][0]["title"] for m in messages)
    assert first == {"dispatched": 3, "finished": 3, "failed": 1, "pending": 1}
    assert sum(t.startswith("Unreadable name") for t in titles) == 1
    assert len(all_files(pipeline.project())) == 2
    assert second["dispatched"] == 0
    assert len(pipeline.discord.messages) == 3


def test_a_file_replaced_by_a_new_render_is_sent_again(pipeline):
    path = make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 100_000, seed=1)
    watch_by_shot(stop_after_files=1, max_runtime_seconds=60)
    make_file(pipeline.by_shot, "SC01_UNDLM_00412_V001.mov", 120_000, seed=2)
    counts = watch_by_shot(stop_after_files=1, max_runtime_seconds=60)
    files = all_files(pipeline.project())
    assert counts["dispatched"] == 1
    assert sorted(f.file_size for f in files) == [100_000, 120_000]
    assert path.stat().st_size == 120_000
