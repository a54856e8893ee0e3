"""Cache TTLs from settings (the tuning block's defaults): naming rules and the project client,
measured on the runtime's injected clock (:mod:`core.runtime`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from config.settings import PostflowSettings
from core.runtime import Runtime, use_runtime
from tasks.clients import open_project
from tasks.structure.naming import DEFAULT_NOMENCLATURE_PATH, load_nomenclature


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock()
    with use_runtime(Runtime(clock=fake)):
        yield fake


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "nomenclature.toml"
    shutil.copy(DEFAULT_NOMENCLATURE_PATH, path)
    return path


def test_rules_are_reused_within_the_ttl_and_read_again_after(clock, rules):
    first = load_nomenclature(rules, ttl_seconds=7200)
    clock.now += 7100
    assert load_nomenclature(rules, ttl_seconds=7200) is first
    clock.now += 200
    assert load_nomenclature(rules, ttl_seconds=7200) is not first


def test_an_edited_rules_file_is_read_again_at_once(clock, rules):
    first = load_nomenclature(rules, ttl_seconds=7200)
    stat = rules.stat()
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_nomenclature(rules, ttl_seconds=7200) is not first


@pytest.fixture
def project_settings(monkeypatch):
    for name, value in {
        "FRAMEIO_ACCOUNT_ID": "acc",
        "FRAMEIO_PROJECT_ID": "proj",
        "FRAMEIO_CLIENT_ID": "cid",
        "FRAMEIO_CLIENT_SECRET": "not-a-real-secret",
        "FRAMEIO_CREDENTIALS_BLOCK": "postflow-test-absent-block",
    }.items():
        monkeypatch.setenv(f"POSTFLOW_{name}", value)
    return PostflowSettings(projects_cache_ttl_seconds=1800)


def test_the_project_client_is_reused_within_the_ttl_and_made_afresh_after(clock, project_settings):
    first = open_project(project_settings)
    clock.now += 1700
    assert open_project(project_settings) is first
    clock.now += 200
    assert open_project(project_settings) is not first


def test_a_fresh_runtime_shares_nothing_with_the_previous_one(rules):
    with use_runtime():
        first = load_nomenclature(rules)
    with use_runtime():
        assert load_nomenclature(rules) is not first


def test_a_slow_cached_value_does_not_stall_the_runtimes_other_state():
    """Review finding: cached() built its value under the runtime-wide lock, so a tunnel
    starting (up to a minute) froze every thread reading the live window or the cancel
    flags. Seen failing: the reader thread was still blocked when the build was released."""
    import threading

    from core.runtime import Runtime

    runtime = Runtime()
    building, release = threading.Event(), threading.Event()

    def slow() -> str:
        building.set()
        assert release.wait(30)
        return "endpoint"

    maker = threading.Thread(target=lambda: runtime.cached("remote", "k", slow))
    maker.start()
    assert building.wait(30)
    read = threading.Thread(target=lambda: runtime.state("live-window", list))
    read.start()
    read.join(10)  # a deadline, not a timing: it returns at once unless it is blocked
    stalled = read.is_alive()
    release.set()
    maker.join(30)
    read.join(30)
    assert not stalled
    assert runtime.cached("remote", "k", lambda: "again") == "endpoint"  # made once
