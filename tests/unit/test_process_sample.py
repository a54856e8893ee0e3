"""The CPU and memory figures of the upload events come from real samples."""

from __future__ import annotations

import time

from tasks.observe.events import process_sample


def _burn_cpu(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        sum(range(1000))


def test_cpu_percent_measures_the_work_since_the_previous_sample():
    process_sample()
    _burn_cpu(0.3)
    sample = process_sample()
    assert sample["cpu_percent"] > 10.0  # it was 0.0 on every call before
    assert sample["rss_mb"] > 10.0
